//! The registers' commands: `baoxiu people …` and `baoxiu assets …` (issue 20).

use std::path::PathBuf;
use std::sync::Arc;

use clap::Subcommand;

use baoxiu::app::Core;
use baoxiu::clock::SystemClock;
use baoxiu::config::Config;
use baoxiu::desk::{AssetFilter, Imported};
use baoxiu::domain::ticket::Caller;
use baoxiu::flow::{Flows, Lang};

/// `baoxiu people …`
#[derive(Subcommand)]
pub enum PeopleCommand {
    /// Replace the staff directory with FILE, a CSV (UTF-8 with or without a BOM, or GBK
    /// as Excel saves it) with columns name, department, phone, site, building, room,
    /// chat_ids (`telegram:123; discord:456`), email — or their Chinese names. A bad row
    /// is refused with its line number and nothing is imported.
    Import {
        /// The CSV file.
        file: PathBuf,
    },
    /// Print the directory as JSON.
    List,
}

/// `baoxiu assets …`
#[derive(Subcommand)]
pub enum AssetsCommand {
    /// Add or update assets by tag from FILE, a CSV (UTF-8 with or without a BOM, or GBK)
    /// with columns tag, kind, model, serial, ip, mac, site, building, room, owner,
    /// department, purchased_on, warranty_until, status, notes (or their Chinese names).
    /// A bad row is refused with its line number and nothing is imported.
    Import {
        /// The CSV file.
        file: PathBuf,
    },
    /// Write the selected assets as CSV (UTF-8 with a BOM, formula-safe) to FILE or stdout.
    Export {
        /// Select: site=…, kind=…, status=…, department=…, tag=PREFIX (repeatable).
        #[arg(long)]
        filter: Vec<String>,
        /// Where to write (default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// One device with its history, as JSON.
    Show {
        /// Its tag (as typed).
        tag: String,
    },
    /// Plan 000's asset report: age, warranty, faults in 90 days, advice.
    Report {
        /// Select: site=…, kind=…, status=…, department=…, tag=PREFIX (repeatable).
        #[arg(long)]
        filter: Vec<String>,
        /// Only warranties ending within this many days (or ended), soonest first.
        #[arg(long)]
        warranty_within: Option<u32>,
        /// table (default), csv or json.
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// Print QR stickers: sheets of labels that open the report for each device.
    Labels {
        /// Select: site=…, kind=…, status=…, department=…, tag=PREFIX (repeatable).
        #[arg(long)]
        filter: Vec<String>,
        /// svg (complete, with the Chinese caption; a file per page) or pdf (QR and tag).
        #[arg(long, default_value = "svg")]
        format: String,
        /// The sticker sheet: a4-3x8 (70 × 37 mm), a4-3x7, a4-2x7, a4-5x13.
        #[arg(long, default_value = "a4-3x8")]
        sheet: String,
        /// Output file (SVG pages get -2, -3 … before the extension).
        #[arg(long)]
        out: PathBuf,
    },
}

fn cli() -> Caller {
    Caller::Desk { name: "cli".into() }
}

/// `key=value` selections as a filter.
fn filter(pairs: &[String]) -> Result<AssetFilter, String> {
    let mut f = AssetFilter::default();
    for pair in pairs {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("--filter `{pair}` must be key=value"))?;
        let v = v.trim().to_owned();
        match k.trim() {
            "site" => f.site = Some(v),
            "kind" => f.kind = Some(v.to_lowercase()),
            "department" => f.department = Some(v),
            "tag" | "tag_prefix" => f.tag_prefix = Some(v),
            "status" => {
                f.status = Some(
                    baoxiu::domain::asset::AssetStatus::parse(&v)
                        .ok_or_else(|| format!("unknown status `{v}`"))?,
                );
            }
            other => {
                return Err(format!(
                    "unknown filter `{other}`; use site, kind, status, department or tag"
                ));
            }
        }
    }
    Ok(f)
}

fn said(what: &str, done: &Imported) -> String {
    format!(
        "{what}: {} rows imported ({} new, {} updated)",
        done.rows, done.new, done.updated
    )
}

fn read(file: &PathBuf) -> Result<Vec<u8>, String> {
    std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))
}

fn write(file: &PathBuf, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(file, bytes).map_err(|e| format!("cannot write {}: {e}", file.display()))
}

/// Runs `baoxiu people …`.
pub async fn people(config: &Config, source: &str, command: PeopleCommand) -> Result<(), String> {
    let core = Core::assemble(config, source, Arc::new(SystemClock))
        .await
        .map_err(|e| e.to_string())?;
    let done = match command {
        PeopleCommand::Import { file } => match read(&file) {
            Ok(bytes) => core
                .desk
                .import_people(&cli(), &bytes)
                .await
                .map(|d| println!("{}", said("staff directory", &d)))
                .map_err(|e| format!("{}: {e}", file.display())),
            Err(e) => Err(e),
        },
        PeopleCommand::List => core
            .desk
            .people(&cli())
            .await
            .map_err(|e| e.to_string())
            .and_then(|p| serde_json::to_string_pretty(&p).map_err(|e| e.to_string()))
            .map(|j| println!("{j}")),
    };
    core.close().await;
    done
}

/// Runs `baoxiu assets …`.
pub async fn assets(config: &Config, source: &str, command: AssetsCommand) -> Result<(), String> {
    let core = Core::assemble(config, source, Arc::new(SystemClock))
        .await
        .map_err(|e| e.to_string())?;
    let done = run(config, &core, command).await;
    core.close().await;
    done
}

async fn run(config: &Config, core: &Core, command: AssetsCommand) -> Result<(), String> {
    let desk = &core.desk;
    let e = |e: baoxiu::desk::DeskError| e.to_string();
    match command {
        AssetsCommand::Import { file } => {
            let bytes = read(&file)?;
            let done = desk
                .import_assets(&cli(), &bytes)
                .await
                .map_err(|e| format!("{}: {e}", file.display()))?;
            println!("{}", said("assets", &done));
        }
        AssetsCommand::Export { filter: f, out } => {
            let bytes = desk.export_assets(&cli(), &filter(&f)?).await.map_err(e)?;
            match out {
                Some(path) => write(&path, &bytes)?,
                None => {
                    use std::io::Write;
                    std::io::stdout()
                        .write_all(&bytes)
                        .map_err(|e| e.to_string())?;
                }
            }
        }
        AssetsCommand::Show { tag } => {
            let detail = desk.asset(&cli(), &tag).await.map_err(e)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&detail).map_err(|e| e.to_string())?
            );
        }
        AssetsCommand::Report {
            filter: f,
            warranty_within,
            format,
        } => {
            let lines = desk
                .asset_report(&cli(), &filter(&f)?, warranty_within)
                .await
                .map_err(e)?;
            match format.as_str() {
                "json" => println!(
                    "{}",
                    serde_json::to_string_pretty(&lines).map_err(|e| e.to_string())?
                ),
                "table" | "csv" => {
                    let sep = if format == "csv" { "," } else { "\t" };
                    println!(
                        "{}",
                        [
                            "tag",
                            "kind",
                            "model",
                            "location",
                            "age",
                            "warranty_until",
                            "days_left",
                            "faults_90d",
                            "advice"
                        ]
                        .join(sep)
                    );
                    for l in lines {
                        let o = |v: Option<String>| v.unwrap_or_default();
                        println!(
                            "{}",
                            [
                                l.tag,
                                l.kind,
                                o(l.model),
                                l.location,
                                o(l.age_years.map(|a| a.to_string())),
                                o(l.warranty_until.map(|d| d.to_string())),
                                o(l.warranty_days_left.map(|d| d.to_string())),
                                l.faults_90_days.to_string(),
                                l.advice.to_owned(),
                            ]
                            .map(|c| baoxiu::domain::sheet::formula_safe(&c))
                            .join(sep)
                        );
                    }
                }
                other => {
                    return Err(format!(
                        "unknown --format `{other}`; use table, csv or json"
                    ));
                }
            }
        }
        AssetsCommand::Labels {
            filter: f,
            format,
            sheet,
            out,
        } => {
            let sheet = baoxiu::labels::sheet(&sheet).ok_or_else(|| {
                let names: Vec<&str> = baoxiu::labels::SHEETS.iter().map(|s| s.name).collect();
                format!("unknown --sheet `{sheet}`; use one of {}", names.join(", "))
            })?;
            let flows = Flows::load(config.chat.flows_dir.as_deref()).map_err(|problems| {
                problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            })?;
            let caption = flows.text("label_caption", Lang::ZhCn, &serde_json::Value::Null);
            if config.assets.qr == baoxiu::domain::asset::QrTarget::Web
                && config.web.public_url.is_none()
            {
                eprintln!(
                    "warning: [web] public_url is not set, so the QR codes point at {}; \
                     phones cannot reach that — set it (or [assets] qr = \"telegram\") before printing",
                    desk.asset_link("TAG").trim_end_matches("/r/TAG")
                );
            }
            let labels = desk
                .labels(&cli(), &filter(&f)?, &caption)
                .await
                .map_err(e)?;
            match format.as_str() {
                "pdf" => {
                    let bytes = baoxiu::labels::pdf(&labels, sheet).map_err(|e| e.to_string())?;
                    write(&out, &bytes)?;
                    println!("{} labels written to {}", labels.len(), out.display());
                }
                "svg" => {
                    let pages =
                        baoxiu::labels::svg_pages(&labels, sheet).map_err(|e| e.to_string())?;
                    for (i, page) in pages.iter().enumerate() {
                        let path = if i == 0 {
                            out.clone()
                        } else {
                            let stem = out
                                .file_stem()
                                .map(|s| s.to_string_lossy().into_owned())
                                .unwrap_or_default();
                            let ext = out
                                .extension()
                                .map(|s| s.to_string_lossy().into_owned())
                                .unwrap_or_else(|| "svg".into());
                            out.with_file_name(format!("{stem}-{}.{ext}", i + 1))
                        };
                        write(&path, page.as_bytes())?;
                        println!("{}", path.display());
                    }
                    println!("{} labels on {} page(s)", labels.len(), pages.len());
                }
                other => return Err(format!("unknown --format `{other}`; use svg or pdf")),
            }
        }
    }
    Ok(())
}
