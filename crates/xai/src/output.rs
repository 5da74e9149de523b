//! Report folders written as a whole or not at all.
//!
//! A report is written into a hidden staging folder beside `--out` (`.NAME.xai-staging-PID-N`),
//! created before any computation, so an unwritable destination fails at once. Only when every
//! file is written does the staging folder take the place of `--out`: a killed or failed run
//! leaves the previous report (or nothing), never a complete-looking partial one, and a rerun
//! leaves no stale images behind. A folder that holds files not written by xai is never
//! replaced: every report carries a marker file, and an existing `--out` without it is refused.
//! While a run writes, it holds a lock file beside `--out` (`.NAME.xai-lock`, holding its process
//! id): a second run into the same folder is refused at once instead of racing the first. A lock
//! left by a run that no longer exists (killed) is taken over (Linux, where `/proc` tells).

use std::path::{Path, PathBuf};

use xai_core::{Result, XaiError};

/// The file that marks a folder as an xai report (safe to replace).
pub const MARKER: &str = ".xai-report";

/// A report being written (see the module docs).
#[derive(Debug)]
pub struct Staging {
    target: PathBuf,
    dir: PathBuf,
    done: bool,
    _lock: Lock,
}

/// The lock file of a run writing `--out`, removed when the run ends (finished or not).
#[derive(Debug)]
struct Lock {
    path: PathBuf,
}

impl Lock {
    fn acquire(path: PathBuf, out: &Path) -> Result<Lock> {
        use std::io::Write as _;
        // Twice: the second attempt follows the removal of a stale lock.
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    write!(f, "{}", std::process::id()).map_err(|e| io(&path, e))?;
                    return Ok(Lock { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = std::fs::read_to_string(&path)
                        .ok()
                        .and_then(|t| t.trim().parse::<u32>().ok());
                    match holder {
                        Some(pid) if !process_alive(pid) => {
                            let _ = std::fs::remove_file(&path);
                        }
                        _ => {
                            let who = holder.map_or(String::new(), |p| format!(" (process {p})"));
                            return Err(XaiError::Config(format!(
                                "--out {}: another xai run{who} is writing it; wait for it to \
                                 finish, or delete {} if that run is gone",
                                out.display(),
                                path.display()
                            )));
                        }
                    }
                }
                Err(e) => return Err(io(&path, e)),
            }
        }
        Err(XaiError::Config(format!(
            "--out {}: could not take the lock {}",
            out.display(),
            path.display()
        )))
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether process `pid` exists (where `/proc` can tell; elsewhere every lock counts as held).
fn process_alive(pid: u32) -> bool {
    !Path::new("/proc/self").exists() || Path::new(&format!("/proc/{pid}")).exists()
}

impl Staging {
    /// Check that `out` may be (re)placed and create the staging folder beside it.
    pub fn begin(out: &Path) -> Result<Staging> {
        Staging::open(out, false)
    }

    /// [`begin`](Self::begin), but a folder holding files xai did not write is replaced too
    /// (the user asked for it with `--force`); it is still never replaced by a failed run.
    pub fn replacing(out: &Path) -> Result<Staging> {
        Staging::open(out, true)
    }

    /// [`replacing`](Self::replacing) when `force`, else [`begin`](Self::begin).
    pub fn open_for(out: &Path, force: bool) -> Result<Staging> {
        Staging::open(out, force)
    }

    fn open(out: &Path, force: bool) -> Result<Staging> {
        let name = out
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| !n.is_empty() && *n != "." && *n != "..")
            .ok_or_else(|| {
                XaiError::Config(format!(
                    "--out {} must name a folder (not `.`, `..` or a root)",
                    out.display()
                ))
            })?;
        if out.exists() {
            if !out.is_dir() {
                return Err(XaiError::Config(format!(
                    "--out {} exists and is not a folder",
                    out.display()
                )));
            }
            let empty = std::fs::read_dir(out)
                .map_err(|e| io(out, e))?
                .next()
                .is_none();
            if !empty && !out.join(MARKER).is_file() && !force {
                return Err(XaiError::Config(format!(
                    "--out {} holds files not written by xai; choose another folder, empty it, \
                     or pass --force to replace it",
                    out.display()
                )));
            }
        }
        let parent = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent).map_err(|e| io(&parent, e))?;
        let lock = Lock::acquire(parent.join(format!(".{name}.xai-lock")), out)?;
        // Unique per process and per call: concurrent runs, in one process or several, each
        // write their own folder, and the last to finish wins whole.
        static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = parent.join(format!(".{name}.xai-staging-{}-{call}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| io(&dir, e))?;
        }
        std::fs::create_dir(&dir).map_err(|e| io(&dir, e))?;
        std::fs::write(
            dir.join(MARKER),
            "written by xai; the folder is replaced on a rerun\n",
        )
        .map_err(|e| io(&dir, e))?;
        Ok(Staging {
            target: out.to_path_buf(),
            dir,
            done: false,
            _lock: lock,
        })
    }

    /// Where the report's files go until [`finish`](Self::finish).
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Put the written report in place of `--out` (replacing an earlier report there). A run
    /// that loses a race with another one finishing into the same `--out` fails with an error;
    /// `--out` then holds the other run's report, whole.
    pub fn finish(mut self) -> Result<()> {
        let out = self.target.clone();
        if out.exists() {
            // Move the old report aside first, so a failure in between leaves one of the two.
            let old = self.dir.with_extension("old");
            std::fs::rename(&out, &old).map_err(|e| io(&out, e))?;
            if let Err(e) = std::fs::rename(&self.dir, &out) {
                // Another run finished in between: keep its report, drop the old one.
                let _ = std::fs::remove_dir_all(&old);
                return Err(io(&out, e));
            }
            std::fs::remove_dir_all(&old).map_err(|e| io(&old, e))?;
        } else {
            std::fs::rename(&self.dir, &out).map_err(|e| io(&out, e))?;
        }
        self.done = true;
        Ok(())
    }
}

impl Drop for Staging {
    /// A report that was not finished is removed.
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn io(path: &Path, e: std::io::Error) -> XaiError {
    XaiError::Config(format!("{}: {e}", path.display()))
}

/// Escape text for HTML (every report page goes through this).
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("xai-output-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_report_appears_whole_and_replaces_only_reports() {
        let root = scratch("whole");
        let out = root.join("report");
        let s = Staging::begin(&out).unwrap();
        std::fs::write(s.path().join("a.txt"), "1").unwrap();
        assert!(!out.exists(), "nothing at --out before the end");
        s.finish().unwrap();
        assert!(out.join("a.txt").is_file() && out.join(MARKER).is_file());
        // A rerun replaces it and leaves no stale file.
        let s = Staging::begin(&out).unwrap();
        std::fs::write(s.path().join("b.txt"), "2").unwrap();
        s.finish().unwrap();
        assert!(out.join("b.txt").is_file() && !out.join("a.txt").exists());
        // An unfinished run leaves the old report and no staging folder.
        let s = Staging::begin(&out).unwrap();
        let staging = s.path().to_path_buf();
        std::fs::write(staging.join("c.txt"), "3").unwrap();
        drop(s);
        assert!(!staging.exists() && out.join("b.txt").is_file());
        // Someone else's folder is refused, so is a file.
        let theirs = root.join("theirs");
        std::fs::create_dir_all(&theirs).unwrap();
        std::fs::write(theirs.join("notes.txt"), "mine").unwrap();
        let e = Staging::begin(&theirs).unwrap_err().to_string();
        assert!(
            e.contains("not written by xai") && e.contains("--force"),
            "{e}"
        );
        // …unless the user forces it: then the finished report replaces it whole.
        let s = Staging::replacing(&theirs).unwrap();
        std::fs::write(s.path().join("report.txt"), "r").unwrap();
        s.finish().unwrap();
        assert!(theirs.join("report.txt").is_file() && !theirs.join("notes.txt").exists());
        std::fs::write(root.join("file"), "x").unwrap();
        assert!(Staging::begin(&root.join("file")).is_err());
        assert!(Staging::begin(Path::new("..")).is_err());
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn a_second_run_into_a_folder_being_written_is_refused() {
        let root = scratch("lock");
        let out = root.join("report");
        let first = Staging::begin(&out).unwrap();
        let e = Staging::begin(&out).unwrap_err().to_string();
        assert!(
            e.contains("another xai run") && e.contains("xai-lock"),
            "{e}"
        );
        first.finish().unwrap();
        // Released at the end: the next run goes ahead.
        Staging::begin(&out).unwrap().finish().unwrap();
        // A lock left by a process that no longer exists is taken over.
        let lock = root.join(".report.xai-lock");
        std::fs::write(&lock, u32::MAX.to_string()).unwrap();
        Staging::begin(&out).unwrap().finish().unwrap();
        assert!(!lock.exists());
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn concurrent_runs_into_one_folder_never_mix() {
        let root = scratch("race");
        let out = root.join("report");
        for _ in 0..5 {
            std::thread::scope(|s| {
                for k in 0..6 {
                    let out = out.clone();
                    s.spawn(move || {
                        // A run may fail when it loses the race; it never mixes.
                        if let Ok(st) = Staging::begin(&out) {
                            for f in ["a.txt", "b.txt", "c.txt"] {
                                std::fs::write(st.path().join(f), k.to_string()).unwrap();
                            }
                            let _ = st.finish();
                        }
                    });
                }
            });
            let read = |f: &str| std::fs::read_to_string(out.join(f)).unwrap();
            assert!(read("a.txt") == read("b.txt") && read("b.txt") == read("c.txt"));
        }
        let stray: Vec<_> = std::fs::read_dir(&root)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name() != "report")
            .collect();
        assert!(stray.is_empty(), "{stray:?}");
        let _ = std::fs::remove_dir_all(&root);
    }
}
