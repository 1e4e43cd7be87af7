//! The cluster's certificates: a CA made on first start and reused after, a serving
//! certificate for the API server, and the admin client certificate kubectl authenticates with.

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create certificate: {0}")]
    Cert(#[from] rcgen::Error),
}

/// PEM-encoded material the server and its clients need.
#[derive(Clone, Debug)]
pub struct Pki {
    pub ca_cert_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
    pub admin_cert_pem: String,
    pub admin_key_pem: String,
}

fn read(path: &Path) -> Result<String, PkiError> {
    fs::read_to_string(path).map_err(|source| PkiError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn write(path: &Path, contents: &str, secret: bool) -> Result<(), PkiError> {
    let io = |source| PkiError::Io {
        path: path.to_path_buf(),
        source,
    };
    fs::write(path, contents).map_err(io)?;
    if secret {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(io)?;
    }
    Ok(())
}

fn name(cn: &str, org: Option<&str>) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    if let Some(o) = org {
        dn.push(DnType::OrganizationName, o);
    }
    dn
}

// rcgen's default validity (1975 to 4096) is kept: these are private, cluster-local certificates.

/// Loads the PKI from `dir`, creating the CA and admin certificate on first start. The serving
/// certificate is made anew each start so it always names the current listen address.
pub fn load_or_create(
    dir: &Path,
    extra_ips: &[IpAddr],
    extra_names: &[String],
) -> Result<Pki, PkiError> {
    fs::create_dir_all(dir).map_err(|source| PkiError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let ca_crt = dir.join("ca.crt");
    let ca_key = dir.join("ca.key");
    let admin_crt = dir.join("admin.crt");
    let admin_key = dir.join("admin.key");

    let (ca_cert_pem, ca_key_pair) = if ca_crt.exists() && ca_key.exists() {
        (read(&ca_crt)?, KeyPair::from_pem(&read(&ca_key)?)?)
    } else {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = name("minato-ca", None);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key)?;
        write(&ca_crt, &cert.pem(), false)?;
        write(&ca_key, &key.serialize_pem(), true)?;
        (cert.pem(), key)
    };
    let issuer = Issuer::from_ca_cert_pem(&ca_cert_pem, &ca_key_pair)?;

    // Serving certificate: loopback, the cluster's service names and the kubernetes Service IP.
    let server_key = KeyPair::generate()?;
    let mut names: Vec<String> = vec![
        "localhost".into(),
        "kubernetes".into(),
        "kubernetes.default".into(),
        "kubernetes.default.svc".into(),
        "kubernetes.default.svc.cluster.local".into(),
    ];
    names.extend(extra_names.iter().cloned());
    let mut params = CertificateParams::new(names)?;
    let mut ips: Vec<IpAddr> = vec!["127.0.0.1".parse().unwrap_or(IpAddr::from([127, 0, 0, 1]))];
    ips.push(IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]));
    ips.extend(extra_ips.iter().copied());
    for ip in ips {
        params.subject_alt_names.push(SanType::IpAddress(ip));
    }
    params.distinguished_name = name("minato-apiserver", None);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    let server_cert = params.signed_by(&server_key, &issuer)?;

    // Admin client certificate: group system:masters, as kubeadm's admin.conf.
    let (admin_cert_pem, admin_key_pem) = if admin_crt.exists() && admin_key.exists() {
        (read(&admin_crt)?, read(&admin_key)?)
    } else {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = name("minato-admin", Some("system:masters"));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        let cert = params.signed_by(&key, &issuer)?;
        write(&admin_crt, &cert.pem(), false)?;
        write(&admin_key, &key.serialize_pem(), true)?;
        (cert.pem(), key.serialize_pem())
    };

    Ok(Pki {
        ca_cert_pem,
        server_cert_pem: server_cert.pem(),
        server_key_pem: server_key.serialize_pem(),
        admin_cert_pem,
        admin_key_pem,
    })
}

/// A kubeconfig for the admin user, with certificates embedded so it can be copied anywhere.
pub fn admin_kubeconfig(pki: &Pki, server_url: &str) -> String {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: minato\n  cluster:\n    server: {server_url}\n    certificate-authority-data: {ca}\nusers:\n- name: minato-admin\n  user:\n    client-certificate-data: {cert}\n    client-key-data: {key}\ncontexts:\n- name: minato\n  context:\n    cluster: minato\n    user: minato-admin\n    namespace: default\ncurrent-context: minato\npreferences: {{}}\n",
        ca = b64(&pki.ca_cert_pem),
        cert = b64(&pki.admin_cert_pem),
        key = b64(&pki.admin_key_pem),
    )
}

/// Writes `contents` to `path` readable by the owner only.
pub fn write_secret_file(path: &Path, contents: &str) -> Result<(), PkiError> {
    write(path, contents, true)
}

/// The cluster CA's files under a server data dir, `(ca.crt, ca.key)`: a node agent sharing the
/// data dir signs its own serving certificate with them (see [`issue_cert`]).
pub fn ca_files(data_dir: &Path) -> (PathBuf, PathBuf) {
    let tls = data_dir.join("tls");
    (tls.join("ca.crt"), tls.join("ca.key"))
}

/// Returns the certificate and key at `cert_path`/`key_path`, or makes them, signed by the CA at
/// `ca_crt`/`ca_key`: a client certificate (`CN`=`cn`, `O`=`orgs`) when `names` and `ips` are
/// empty, otherwise a serving certificate for those names and addresses.
pub fn issue_cert(
    (ca_crt, ca_key): (&Path, &Path),
    (cert_path, key_path): (&Path, &Path),
    cn: &str,
    orgs: &[&str],
    names: &[String],
    ips: &[IpAddr],
) -> Result<(String, String), PkiError> {
    if cert_path.exists() && key_path.exists() {
        return Ok((read(cert_path)?, read(key_path)?));
    }
    let ca_key_pair = KeyPair::from_pem(&read(ca_key)?)?;
    let issuer = Issuer::from_ca_cert_pem(&read(ca_crt)?, &ca_key_pair)?;
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(names.to_vec())?;
    for ip in ips {
        params.subject_alt_names.push(SanType::IpAddress(*ip));
    }
    let mut dn = name(cn, None);
    for o in orgs {
        dn.push(DnType::OrganizationName, *o);
    }
    params.distinguished_name = dn;
    params.extended_key_usages = if names.is_empty() && ips.is_empty() {
        vec![ExtendedKeyUsagePurpose::ClientAuth]
    } else {
        vec![ExtendedKeyUsagePurpose::ServerAuth]
    };
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    let cert = params.signed_by(&key, &issuer)?;
    write(cert_path, &cert.pem(), false)?;
    write(key_path, &key.serialize_pem(), true)?;
    Ok((cert.pem(), key.serialize_pem()))
}
