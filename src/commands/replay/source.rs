//! Where replay's files come from: local paths and `s3://BUCKET/PREFIX/` archives. Plans the file
//! list (walking the CloudTrail layout level by level so filters prune the listing instead of
//! the files; elsewhere a log file is known, and filtered, by its name) and opens one file at a
//! time. Must not parse records or decide order: the layout
//! and order rules are core::archive and core::merge.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use crate::aws::s3_archive::S3Archive;
use crate::core::archive::{self, Filter, Level, TrailKey};
use crate::core::input::{self, InputError};

/// One replay argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Local(PathBuf),
    S3 { bucket: String, prefix: String },
}

/// Parses `s3://BUCKET[/PREFIX]`; anything else is a local path.
pub fn parse_location(arg: &Path) -> Result<Location, String> {
    let text = arg.to_string_lossy();
    let Some(rest) = text.strip_prefix("s3://") else {
        return Ok(Location::Local(arg.to_owned()));
    };
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty()
        || !bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    {
        return Err(format!(
            "{text:?}: not an S3 location; expected s3://BUCKET/PREFIX/"
        ));
    }
    let mut prefix = prefix.to_owned();
    let name = prefix.rsplit('/').next().unwrap_or("");
    if !prefix.is_empty() && !prefix.ends_with('/') && !input::is_input_name(name) {
        prefix.push('/');
    }
    Ok(Location::S3 {
        bucket: bucket.to_owned(),
        prefix,
    })
}

/// Where one file's bytes are.
#[derive(Debug, Clone)]
pub enum Origin {
    Local(PathBuf),
    /// An object of `archives[i]`.
    S3(usize, String),
}

/// One file to replay.
#[derive(Debug, Clone)]
pub struct FileRef {
    /// As reported: the path, or `s3://bucket/key`.
    pub id: String,
    pub size: u64,
    pub trail: Option<TrailKey>,
    pub origin: Origin,
}

/// The planned files and what planning saw.
#[derive(Debug, Default)]
pub struct Plan {
    pub files: Vec<FileRef>,
    /// Log files the filters left out (by key alone).
    pub filtered_out: u64,
    /// Objects under `AWSLogs/` that are not CloudTrail log files (digests, Insights, …).
    pub not_logs: u64,
    /// Listings that failed, with the prefix: reported, counted as unreadable.
    pub unreadable: Vec<String>,
}

/// Lists a tree of keys or paths level by level. Prefixes end with `/` (or are empty).
trait Tree {
    /// The child "directories" of `prefix`, each ending with `/`.
    fn dirs(&self, prefix: &str) -> Result<Vec<String>, String>;
    /// The child directories of `prefix` and the files directly at it, in one listing.
    #[allow(clippy::type_complexity)]
    fn level(&self, prefix: &str) -> Result<(Vec<String>, Vec<(String, u64)>), String>;
    /// Every file under `prefix` (recursively) in key order, after `start_after`, until the first
    /// one for which `past_end` holds.
    fn files(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        past_end: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Vec<(String, u64)>, String>;
}

fn never(_: &str) -> bool {
    false
}

/// Walks the layout below `prefix`, listing only what the filter can select.
fn walk(
    tree: &dyn Tree,
    prefix: &str,
    filter: &Filter,
    out: &mut Vec<(String, u64)>,
) -> Result<(), String> {
    if !filter.is_active() {
        out.extend(tree.files(prefix, None, &never)?);
        return Ok(());
    }
    match archive::level_of(prefix) {
        Level::Outside => {
            // The `AWSLogs/` tree is pruned by its layout; log files elsewhere are known by their
            // names alone, so every other directory is walked (and pruned if it holds a layout).
            let aws = format!("{prefix}AWSLogs/");
            let (dirs, mut found) = tree.level(prefix)?;
            if !dirs.contains(&aws) {
                out.extend(tree.files(prefix, None, &never)?);
                return Ok(());
            }
            for d in dirs {
                walk(tree, &d, filter, &mut found)?;
            }
            // In key order, as one listing of `prefix` would give them.
            found.sort();
            out.extend(found);
            Ok(())
        }
        Level::AwsLogs => {
            for d in tree.dirs(prefix)? {
                match archive::level_of(&d) {
                    Level::Org => walk(tree, &d, filter, out)?,
                    Level::Account(a) if filter.account_ok(&a) => walk(tree, &d, filter, out)?,
                    _ => {}
                }
            }
            Ok(())
        }
        Level::Org => {
            let accounts = match filter.fixed_accounts() {
                Some(a) => a.into_iter().map(|a| format!("{prefix}{a}/")).collect(),
                None => tree.dirs(prefix)?,
            };
            for d in accounts {
                if let Level::Account(a) = archive::level_of(&d) {
                    if filter.account_ok(&a) {
                        walk(tree, &format!("{d}CloudTrail/"), filter, out)?;
                    }
                }
            }
            Ok(())
        }
        Level::Account(a) => {
            if filter.account_ok(&a) {
                walk(tree, &format!("{prefix}CloudTrail/"), filter, out)?;
            }
            Ok(())
        }
        Level::CloudTrail(a) => {
            if !filter.account_ok(&a) {
                return Ok(());
            }
            let regions = match filter.fixed_regions() {
                Some(r) => r.into_iter().map(|r| format!("{prefix}{r}/")).collect(),
                None => tree.dirs(prefix)?,
            };
            for d in regions {
                if let Level::Region(_, r) = archive::level_of(&d) {
                    if filter.region_ok(&r) {
                        walk(tree, &d, filter, out)?;
                    }
                }
            }
            Ok(())
        }
        Level::Region(..) => {
            let (first, last) = filter.day_bounds();
            // Keys sort by day (`YYYY/MM/DD/`): start right before the first selected day and
            // stop at the first key past the last one.
            let start = first.map(|d| format!("{prefix}{d}"));
            let plen = prefix.len();
            let past_end = move |k: &str| {
                last.as_deref()
                    .is_some_and(|l| k.get(plen..plen + 10).is_some_and(|day| day > l))
            };
            out.extend(tree.files(prefix, start.as_deref(), &past_end)?);
            Ok(())
        }
        Level::Deeper => {
            out.extend(tree.files(prefix, None, &never)?);
            Ok(())
        }
    }
}

/// Sorts listed keys into the plan: log files (known by name wherever they lie) the filter
/// accepts, plain files (kept only without filters), and the rest counted.
fn admit(
    plan: &mut Plan,
    listed: Vec<(String, u64)>,
    filter: &Filter,
    origin: impl Fn(&str) -> (String, Origin),
) {
    for (key, size) in listed {
        let name = key.rsplit('/').next().unwrap_or(&key);
        if !input::is_input_name(name) {
            continue;
        }
        let trail = archive::parse_key(&key);
        match &trail {
            Some(k) if !filter.accepts(k) => {
                plan.filtered_out += 1;
                continue;
            }
            None if archive::under_awslogs(&key) => {
                plan.not_logs += 1;
                continue;
            }
            None if filter.is_active() => {
                plan.filtered_out += 1;
                continue;
            }
            _ => {}
        }
        let (id, origin) = origin(&key);
        plan.files.push(FileRef {
            id,
            size,
            trail,
            origin,
        });
    }
}

struct LocalTree;

impl Tree for LocalTree {
    fn level(&self, prefix: &str) -> Result<(Vec<String>, Vec<(String, u64)>), String> {
        let rd = std::fs::read_dir(prefix).map_err(|e| format!("cannot list {prefix}: {e}"))?;
        let (mut dirs, mut files) = (Vec::new(), Vec::new());
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let path = e.path();
            if path.is_dir() {
                dirs.push(format!("{prefix}{name}/"));
            } else if path.is_file() {
                let size = e.metadata().map(|m| m.len()).unwrap_or(0);
                files.push((format!("{prefix}{name}"), size));
            }
        }
        dirs.sort();
        files.sort();
        Ok((dirs, files))
    }

    fn dirs(&self, prefix: &str) -> Result<Vec<String>, String> {
        let rd = std::fs::read_dir(prefix).map_err(|e| format!("cannot list {prefix}: {e}"))?;
        let mut out = Vec::new();
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.starts_with('.') && e.path().is_dir() {
                out.push(format!("{prefix}{name}/"));
            }
        }
        out.sort();
        Ok(out)
    }

    fn files(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        past_end: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Vec<(String, u64)>, String> {
        let found = match input::expand_paths(&[PathBuf::from(prefix)]) {
            Ok(f) => f,
            // A day or region the filter names but the archive lacks is simply empty.
            Err(InputError::NotFound(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e.to_string()),
        };
        let mut out = Vec::new();
        for p in found {
            let s = p.to_string_lossy().into_owned();
            if start_after.is_some_and(|a| s.as_str() <= a) {
                continue;
            }
            if past_end(&s) {
                break;
            }
            let size = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
            out.push((s, size));
        }
        Ok(out)
    }
}

struct S3Tree<'a> {
    archive: &'a S3Archive,
    rt: &'a tokio::runtime::Handle,
}

impl Tree for S3Tree<'_> {
    fn level(&self, prefix: &str) -> Result<(Vec<String>, Vec<(String, u64)>), String> {
        let (dirs, files) = self
            .rt
            .block_on(self.archive.level(prefix))
            .map_err(|e| format!("cannot list s3://{}/{prefix}: {e}", self.archive.bucket))?;
        Ok((dirs, files.into_iter().map(|l| (l.key, l.size)).collect()))
    }

    fn dirs(&self, prefix: &str) -> Result<Vec<String>, String> {
        self.rt
            .block_on(self.archive.dirs(prefix))
            .map_err(|e| format!("cannot list s3://{}/{prefix}: {e}", self.archive.bucket))
    }

    fn files(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        past_end: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Vec<(String, u64)>, String> {
        let listed = self
            .rt
            .block_on(self.archive.files(prefix, start_after, past_end))
            .map_err(|e| format!("cannot list s3://{}/{prefix}: {e}", self.archive.bucket))?;
        Ok(listed.into_iter().map(|l| (l.key, l.size)).collect())
    }
}

/// Opens files for the download/parse jobs.
pub struct Opener {
    pub archives: Vec<S3Archive>,
    pub rt: Option<tokio::runtime::Runtime>,
}

impl Opener {
    /// Plans every location in argument order. A local path that does not exist is an error (as
    /// before); a failed S3 listing is reported in `plan.unreadable` and the rest goes on.
    pub fn plan(&self, locations: &[Location], filter: &Filter) -> Result<Plan, InputError> {
        let mut plan = Plan::default();
        let mut s3_index = 0;
        for loc in locations {
            match loc {
                Location::Local(path) => {
                    let meta = std::fs::metadata(path).map_err(|source| {
                        if source.kind() == std::io::ErrorKind::NotFound {
                            InputError::NotFound(path.clone())
                        } else {
                            InputError::Io {
                                path: path.clone(),
                                source,
                            }
                        }
                    })?;
                    let listed = if meta.is_dir() {
                        let mut root = path.to_string_lossy().into_owned();
                        if !root.ends_with('/') {
                            root.push('/');
                        }
                        let mut out = Vec::new();
                        if let Err(e) = walk(&LocalTree, &root, filter, &mut out) {
                            plan.unreadable.push(e);
                        }
                        out
                    } else {
                        // A file named on the command line is read whatever its name.
                        let s = path.to_string_lossy().into_owned();
                        let trail = archive::parse_key(&s);
                        if filter.is_active() && !trail.as_ref().is_some_and(|k| filter.accepts(k))
                        {
                            plan.filtered_out += 1;
                        } else {
                            plan.files.push(FileRef {
                                id: s,
                                size: meta.len(),
                                trail,
                                origin: Origin::Local(path.clone()),
                            });
                        }
                        continue;
                    };
                    admit(&mut plan, listed, filter, |k| {
                        (k.to_owned(), Origin::Local(PathBuf::from(k)))
                    });
                }
                Location::S3 { prefix, .. } => {
                    let archive = &self.archives[s3_index];
                    let i = s3_index;
                    s3_index += 1;
                    let rt = self
                        .rt
                        .as_ref()
                        .expect("a runtime for S3 locations")
                        .handle();
                    let tree = S3Tree { archive, rt };
                    let mut out = Vec::new();
                    if let Err(e) = walk(&tree, prefix, filter, &mut out) {
                        plan.unreadable.push(e);
                    }
                    let bucket = archive.bucket.clone();
                    admit(&mut plan, out, filter, |k| {
                        (format!("s3://{bucket}/{k}"), Origin::S3(i, k.to_owned()))
                    });
                }
            }
        }
        Ok(plan)
    }

    /// One file's bytes as a reader: a local file streams; an object is fetched whole (one
    /// object at a time per job, never the archive).
    pub fn open(&self, file: &FileRef) -> Result<Box<dyn Read + Send>, String> {
        match &file.origin {
            Origin::Local(p) => std::fs::File::open(p)
                .map(|f| Box::new(f) as Box<dyn Read + Send>)
                .map_err(|e| format!("cannot read {}: {e}", file.id)),
            Origin::S3(i, key) => {
                let rt = self.rt.as_ref().expect("a runtime for S3 locations");
                rt.block_on(self.archives[*i].get(key))
                    .map(|b| Box::new(std::io::Cursor::new(b)) as Box<dyn Read + Send>)
                    .map_err(|e| format!("cannot read {}: {e}", file.id))
            }
        }
    }

    /// (list, get) requests made so far, over every S3 archive.
    pub fn requests(&self) -> (u64, u64) {
        self.archives.iter().fold((0, 0), |(l, g), a| {
            (
                l + a.requests.list.load(Ordering::Relaxed),
                g + a.requests.get.load(Ordering::Relaxed),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// An in-memory key tree that records each listing call (to test pruning).
    struct Keys {
        keys: Vec<String>,
        calls: RefCell<Vec<String>>,
    }

    impl Tree for Keys {
        fn level(&self, prefix: &str) -> Result<(Vec<String>, Vec<(String, u64)>), String> {
            self.calls.borrow_mut().push(format!("level {prefix}"));
            let files = self
                .keys
                .iter()
                .filter(|k| k.strip_prefix(prefix).is_some_and(|r| !r.contains('/')))
                .map(|k| (k.clone(), 1))
                .collect();
            let dirs = self.dirs(prefix)?;
            self.calls.borrow_mut().pop();
            Ok((dirs, files))
        }
        fn dirs(&self, prefix: &str) -> Result<Vec<String>, String> {
            self.calls.borrow_mut().push(format!("dirs {prefix}"));
            let mut out: Vec<String> = self
                .keys
                .iter()
                .filter_map(|k| k.strip_prefix(prefix))
                .filter_map(|rest| rest.split_once('/').map(|(d, _)| format!("{prefix}{d}/")))
                .collect();
            out.dedup();
            Ok(out)
        }
        fn files(
            &self,
            prefix: &str,
            start_after: Option<&str>,
            past_end: &(dyn Fn(&str) -> bool + Sync),
        ) -> Result<Vec<(String, u64)>, String> {
            self.calls.borrow_mut().push(format!("files {prefix}"));
            let mut out = Vec::new();
            for k in self.keys.iter().filter(|k| k.starts_with(prefix)) {
                if start_after.is_some_and(|a| k.as_str() <= a) {
                    continue;
                }
                if past_end(k) {
                    break;
                }
                out.push((k.clone(), 1));
            }
            Ok(out)
        }
    }

    fn archive() -> Keys {
        let mut keys = Vec::new();
        for acct in ["111111111111", "222222222222", "333333333333"] {
            for region in ["eu-west-1", "us-east-1"] {
                for day in ["01", "02", "03"] {
                    keys.push(format!("AWSLogs/o-org1/{acct}/CloudTrail/{region}/2024/05/{day}/{acct}_CloudTrail_{region}_202405{day}T0005Z_x.json.gz"));
                }
            }
            keys.push(format!("AWSLogs/o-org1/{acct}/CloudTrail-Digest/us-east-1/2024/05/01/{acct}_CloudTrail-Digest_us-east-1_t_us-east-1_20240501T0005Z.json.gz"));
        }
        keys.sort();
        Keys {
            keys,
            calls: RefCell::default(),
        }
    }

    #[test]
    fn filters_prune_the_listing() {
        let t = archive();
        let f = Filter::parse(
            Some("2024-05-02"),
            Some("2024-05-02"),
            Some("222222222222"),
            Some("us-east-1"),
            None,
        )
        .unwrap();
        let mut out = Vec::new();
        walk(&t, "", &f, &mut out).unwrap();
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(out[0]
            .0
            .contains("222222222222_CloudTrail_us-east-1_20240502"));
        // Two discovery listings (root, AWSLogs/) and one file listing of one region.
        assert_eq!(
            *t.calls.borrow(),
            vec![
                "level ".to_owned(),
                "dirs AWSLogs/".into(),
                "files AWSLogs/o-org1/222222222222/CloudTrail/us-east-1/".into()
            ]
        );
    }

    #[test]
    fn log_files_beside_the_layout_are_found_and_filtered_by_name() {
        let mut t = archive();
        let name = |a: &str, r: &str| format!("{a}_CloudTrail_{r}_20240502T0005Z_y.json.gz");
        t.keys.push(name("222222222222", "us-east-1"));
        t.keys
            .push(format!("copies/{}", name("222222222222", "us-east-1")));
        t.keys
            .push(format!("copies/deep/{}", name("111111111111", "us-east-1")));
        t.keys.push("copies/notes.json".into());
        t.keys.sort();
        let f = Filter::parse(None, None, Some("222222222222"), Some("us-east-1"), None).unwrap();
        let mut out = Vec::new();
        walk(&t, "", &f, &mut out).unwrap();
        let mut plan = Plan::default();
        admit(&mut plan, out, &f, |k| (k.into(), Origin::Local(k.into())));
        let ids: Vec<&str> = plan.files.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids.len(), 5, "{ids:?}");
        assert!(ids.contains(&name("222222222222", "us-east-1").as_str()));
        assert!(ids.contains(&format!("copies/{}", name("222222222222", "us-east-1")).as_str()));
        // The other account's copy and the plain file are left out by the filter.
        assert_eq!(plan.filtered_out, 2);
    }

    #[test]
    fn shards_partition_accounts_and_no_filter_lists_once() {
        let t = archive();
        let mut all = Vec::new();
        walk(&t, "", &Filter::default(), &mut all).unwrap();
        assert_eq!(t.calls.borrow().len(), 1);
        let mut plan = Plan::default();
        admit(&mut plan, all, &Filter::default(), |k| {
            (k.into(), Origin::Local(k.into()))
        });
        assert_eq!((plan.files.len(), plan.not_logs), (18, 3));
        let mut union = Vec::new();
        for i in 0..3 {
            let f = Filter::parse(None, None, None, None, Some(&format!("{i}/3"))).unwrap();
            let mut out = Vec::new();
            walk(&t, "", &f, &mut out).unwrap();
            let mut p = Plan::default();
            admit(&mut p, out, &f, |k| (k.into(), Origin::Local(k.into())));
            union.extend(p.files.into_iter().map(|f| f.id));
        }
        union.sort();
        let mut want: Vec<String> = plan.files.into_iter().map(|f| f.id).collect();
        want.sort();
        assert_eq!(union, want);
    }

    #[test]
    fn locations() {
        assert_eq!(
            parse_location(Path::new("s3://trail-bucket/AWSLogs")).unwrap(),
            Location::S3 {
                bucket: "trail-bucket".into(),
                prefix: "AWSLogs/".into()
            }
        );
        assert_eq!(
            parse_location(Path::new("s3://b")).unwrap(),
            Location::S3 {
                bucket: "b".into(),
                prefix: "".into()
            }
        );
        assert!(matches!(
            parse_location(Path::new("s3://b/x/file.json.gz")).unwrap(),
            Location::S3 { prefix, .. } if prefix == "x/file.json.gz"
        ));
        let e = parse_location(Path::new("s3:///x")).unwrap_err();
        assert!(e.contains("s3:///x"), "{e}");
        assert_eq!(
            parse_location(Path::new("logs/")).unwrap(),
            Location::Local("logs/".into())
        );
    }
}
