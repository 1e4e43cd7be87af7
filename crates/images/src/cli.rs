//! `minato images ...`: import, ls, rm, pull against a local store.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Context;

use crate::{Credential, ImageStore, Reference, RegistriesConfig};

#[derive(clap::Args, Debug)]
pub struct ImagesArgs {
    #[command(subcommand)]
    pub command: ImagesCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum ImagesCommand {
    /// Import `docker save` or OCI image-layout archives (tar or tar.gz).
    Import {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// List images (like `crictl images`).
    #[command(alias = "list")]
    Ls {
        /// Only print image ids.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Remove images by reference or id.
    #[command(alias = "rmi")]
    Rm {
        #[arg(required = true, value_name = "REF")]
        refs: Vec<String>,
    },
    /// Pull an image from its registry.
    Pull {
        #[arg(value_name = "REF")]
        reference: String,
        /// Registry credentials as USER:PASSWORD.
        #[arg(long, value_name = "USER:PASSWORD")]
        creds: Option<String>,
    },
}

pub async fn run(
    args: ImagesArgs,
    store_root: PathBuf,
    registries: RegistriesConfig,
) -> anyhow::Result<()> {
    let store = ImageStore::open(&store_root, registries)
        .with_context(|| format!("opening image store {}", store_root.display()))?;
    match args.command {
        ImagesCommand::Import { files } => {
            for f in files {
                let store = store.clone();
                let path = f.clone();
                let images = tokio::task::spawn_blocking(move || store.import(&path)).await??;
                for img in images {
                    let names = if img.repo_tags.is_empty() {
                        "<untagged>".to_string()
                    } else {
                        img.repo_tags.join(", ")
                    };
                    println!("imported {names} ({})", img.id);
                }
            }
        }
        ImagesCommand::Ls { quiet } => {
            let images = store.list()?;
            if quiet {
                for img in images {
                    println!("{}", img.id);
                }
                return Ok(());
            }
            let mut rows = vec![[
                "IMAGE".to_string(),
                "TAG".into(),
                "IMAGE ID".into(),
                "SIZE".into(),
            ]];
            for img in &images {
                let short = short_id(&img.id);
                let size = human_size(img.size);
                if img.repo_tags.is_empty() {
                    let repo = img
                        .repo_digests
                        .first()
                        .and_then(|d| d.split_once('@').map(|(n, _)| n.to_string()))
                        .unwrap_or_else(|| "<none>".into());
                    rows.push([repo, "<none>".into(), short.clone(), size.clone()]);
                }
                for t in &img.repo_tags {
                    let (repo, tag) = match Reference::parse(t) {
                        Ok(r) => (r.name(), r.tag.unwrap_or_else(|| "<none>".into())),
                        Err(_) => (t.clone(), "<none>".into()),
                    };
                    rows.push([repo, tag, short.clone(), size.clone()]);
                }
            }
            print_table(&rows);
        }
        ImagesCommand::Rm { refs } => {
            let mut failed = false;
            for r in refs {
                match store.remove(&r) {
                    Ok(()) => println!("Deleted: {r}"),
                    Err(e) => {
                        eprintln!("error: {e}");
                        failed = true;
                    }
                }
            }
            if failed {
                anyhow::bail!("some images could not be removed");
            }
        }
        ImagesCommand::Pull { reference, creds } => {
            let r = Reference::parse(&reference)?;
            let credentials = match creds {
                Some(c) => {
                    let (u, p) = c.split_once(':').context("--creds must be USER:PASSWORD")?;
                    vec![Credential {
                        registry: r.registry.clone(),
                        username: u.into(),
                        password: p.into(),
                    }]
                }
                None => Vec::new(),
            };
            let progress = std::io::stderr().is_terminal().then(progress_display);
            let image = store.pull(&reference, &credentials, progress).await?;
            println!("Image is up to date for {}", image.id);
        }
    }
    Ok(())
}

/// One indicatif bar per layer, created as layers start.
fn progress_display() -> crate::ProgressFn {
    let multi = indicatif::MultiProgress::new();
    let style = indicatif::ProgressStyle::with_template(
        "{prefix:.bold} [{bar:30}] {bytes}/{total_bytes} {msg}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
    .progress_chars("=> ");
    let bars: Mutex<HashMap<String, indicatif::ProgressBar>> = Mutex::new(HashMap::new());
    Arc::new(move |p: crate::PullProgress| {
        let mut bars = bars.lock().unwrap_or_else(|e| e.into_inner());
        let bar = bars.entry(p.layer.clone()).or_insert_with(|| {
            let b = multi.add(indicatif::ProgressBar::new(p.total));
            b.set_style(style.clone());
            b.set_prefix(short_id(&p.layer));
            b
        });
        bar.set_position(p.downloaded);
        if p.done && !bar.is_finished() {
            bar.finish_with_message("done");
        }
    })
}

fn short_id(id: &str) -> String {
    id.strip_prefix("sha256:")
        .unwrap_or(id)
        .chars()
        .take(13)
        .collect()
}

/// Decimal units with four significant digits, like Docker's `units.HumanSize`.
fn human_size(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i < units.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    let s = format!("{v:.4}");
    let s = if s.contains('.') {
        let digits_before = s.split('.').next().map(|x| x.len()).unwrap_or(0);
        let keep = 4usize.saturating_sub(digits_before);
        let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
        let frac = frac[..keep.min(frac.len())].trim_end_matches('0');
        if frac.is_empty() {
            int.to_string()
        } else {
            format!("{int}.{frac}")
        }
    } else {
        s
    };
    format!("{s}{}", units[i])
}

fn print_table(rows: &[[String; 4]]) {
    let mut widths = [0usize; 4];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.len());
        }
    }
    for r in rows {
        let line = format!(
            "{:<w0$}   {:<w1$}   {:<w2$}   {}",
            r[0],
            r[1],
            r[2],
            r[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
        println!("{}", line.trim_end());
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn human_sizes() {
        assert_eq!(super::human_size(0), "0B");
        assert_eq!(super::human_size(999), "999B");
        assert_eq!(super::human_size(2_215_000), "2.215MB");
        assert_eq!(super::human_size(1_000_000), "1MB");
    }
}
