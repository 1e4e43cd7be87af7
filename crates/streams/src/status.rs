//! The Status JSON written on the error stream at the end of an exec session (v4/v5 protocols).

use crate::ExecResult;

/// Serialises the final status as the kubelet does (`metav1.Status`, compact JSON).
pub(crate) fn exec_status(result: &ExecResult) -> Vec<u8> {
    let v = match result {
        ExecResult::Exited(0) => serde_json::json!({"metadata": {}, "status": "Success"}),
        ExecResult::Exited(code) => serde_json::json!({
            "metadata": {},
            "status": "Failure",
            "message": format!("command terminated with non-zero exit code: exit status {code}"),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
        }),
        ExecResult::Error(msg) => serde_json::json!({
            "metadata": {},
            "status": "Failure",
            "message": msg,
        }),
    };
    serde_json::to_vec(&v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_and_exit_code_match_the_kubelet() {
        assert_eq!(
            exec_status(&ExecResult::Exited(0)),
            br#"{"metadata":{},"status":"Success"}"#
        );
        let s: serde_json::Value =
            serde_json::from_slice(&exec_status(&ExecResult::Exited(3))).expect("json");
        assert_eq!(s["reason"], "NonZeroExitCode");
        assert_eq!(s["details"]["causes"][0]["reason"], "ExitCode");
        assert_eq!(s["details"]["causes"][0]["message"], "3");
    }
}
