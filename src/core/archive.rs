//! CloudTrail log file names and the archive layout, pure: recognises a log file by its name
//! `<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<id>.json.gz` wherever it lies, knows the
//! layout `AWSLogs/[o-org/]<account>/CloudTrail/<region>/YYYY/MM/DD/<name>`, parses and applies
//! the replay filters (`--since`, `--until`, `--accounts`, `--regions`, `--account-shard`) to
//! names and to listing prefixes, so a listing of the layout is pruned without reading a file.
//! Must not list, read or fetch anything: sources do that (commands::replay).

use std::collections::BTreeSet;
use std::fmt;

/// One CloudTrail log file, as its key (or path) names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailKey {
    pub org: Option<String>,
    pub account: String,
    pub region: String,
    /// `YYYY/MM/DD` of the delivery time in the name (the layout's day directory).
    pub day: String,
    /// The delivery time in the file name, epoch milliseconds. AWS: "A log file delivered at a
    /// specific time can contain records written at any point before that time."
    pub window_ms: i64,
    /// The file name (last path segment): the tie-breaker that does not depend on where the
    /// archive sits (bucket prefix, local directory).
    pub name: String,
}

/// Where a listing prefix sits in the layout (it ends with `/`, or is empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Level {
    /// No `AWSLogs/` segment yet: look for one below.
    Outside,
    /// `…/AWSLogs/`: children are accounts or organization ids.
    AwsLogs,
    /// `…/AWSLogs/o-xxxx/`: children are accounts.
    Org,
    /// `…/<account>/`: the log files are under `CloudTrail/`.
    Account(String),
    /// `…/<account>/CloudTrail/`: children are regions.
    CloudTrail(String),
    /// `…/<account>/CloudTrail/<region>/`: children are `YYYY/MM/DD/` days.
    Region(String, String),
    /// Anywhere deeper, or a shape the layout does not have: list everything and filter keys.
    Deeper,
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_org(s: &str) -> bool {
    s.len() > 2 && s.starts_with("o-") && s[2..].bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A region name as AWS spells them: lowercase letters, digits and hyphens, with a hyphen.
pub fn is_region(s: &str) -> bool {
    !s.is_empty()
        && s.contains('-')
        && !s.starts_with('-')
        && !s.ends_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The segments after the last `AWSLogs` segment, or None when there is none.
fn after_awslogs(path: &str) -> Option<Vec<&str>> {
    let segs: Vec<&str> = path.split('/').collect();
    let at = segs.iter().rposition(|s| *s == "AWSLogs")?;
    Some(segs[at + 1..].to_vec())
}

/// Whether a key or path lies under an `AWSLogs/` segment (CloudTrail's bucket layout).
pub fn under_awslogs(path: &str) -> bool {
    after_awslogs(path).is_some_and(|rest| !rest.is_empty())
}

/// Where `prefix` (empty or ending with `/`) sits in the layout.
pub fn level_of(prefix: &str) -> Level {
    let Some(mut rest) = after_awslogs(prefix.trim_end_matches('/')) else {
        return Level::Outside;
    };
    if rest.first().is_some_and(|s| is_org(s)) {
        rest.remove(0);
        if rest.is_empty() {
            return Level::Org;
        }
    }
    match rest.as_slice() {
        [] => Level::AwsLogs,
        [a] if is_account(a) => Level::Account((*a).to_owned()),
        [a, "CloudTrail"] if is_account(a) => Level::CloudTrail((*a).to_owned()),
        [a, "CloudTrail", r] if is_account(a) && is_region(r) => {
            Level::Region((*a).to_owned(), (*r).to_owned())
        }
        _ => Level::Deeper,
    }
}

/// `YYYYMMDDTHHmmZ` → epoch milliseconds.
fn parse_stamp(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 14 || b[8] != b'T' || b[13] != b'Z' {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let dt = jiff::civil::DateTime::new(
        digits(0..4)? as i16,
        digits(4..6)? as i8,
        digits(6..8)? as i8,
        digits(9..11)? as i8,
        digits(11..13)? as i8,
        0,
        0,
    )
    .ok()?;
    Some(
        dt.to_zoned(jiff::tz::TimeZone::UTC)
            .ok()?
            .timestamp()
            .as_millisecond(),
    )
}

/// Parses a CloudTrail log file name (the last segment of a key or path) by CloudTrail's pattern
/// `<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<id>.json[.gz]`; None when it is not one
/// (digest files, Insights files, anything else). The name alone carries account, region and
/// delivery time, so a file is known wherever it lies.
pub fn parse_name(name: &str) -> Option<TrailKey> {
    let stem = name
        .strip_suffix(".json.gz")
        .or_else(|| name.strip_suffix(".json"))?;
    let mut parts = stem.splitn(5, '_');
    let (account, ct, region, stamp, id) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if !is_account(account) || ct != "CloudTrail" || !is_region(region) || id.is_empty() {
        return None;
    }
    Some(TrailKey {
        org: None,
        account: account.to_owned(),
        region: region.to_owned(),
        day: format!(
            "{}/{}/{}",
            &stamp.get(0..4)?,
            &stamp.get(4..6)?,
            &stamp.get(6..8)?
        ),
        window_ms: parse_stamp(stamp)?,
        name: name.to_owned(),
    })
}

/// Parses a CloudTrail log file key or path by its name ([`parse_name`]), wherever it lies. Inside
/// CloudTrail's layout (`AWSLogs/[o-org/]<account>/CloudTrail/<region>/YYYY/MM/DD/<name>`) the
/// directories must agree with the name (account and region), since listing pruning trusts
/// them; a file that contradicts its directories is not a log file.
pub fn parse_key(key: &str) -> Option<TrailKey> {
    let name = key.rsplit('/').next().unwrap_or(key);
    let mut k = parse_name(name)?;
    let Some(mut rest) = after_awslogs(key) else {
        return Some(k);
    };
    if rest.first().is_some_and(|s| is_org(s)) {
        k.org = Some(rest.remove(0).to_owned());
    }
    if let [account, "CloudTrail", region, y, m, d, _] = rest.as_slice() {
        let day_ok = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
        if is_account(account)
            && is_region(region)
            && day_ok(y, 4)
            && day_ok(m, 2)
            && day_ok(d, 2)
            && (*account != k.account || *region != k.region)
        {
            return None;
        }
    }
    Some(k)
}

/// A filter value that could not be understood; the message names the offending value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{flag} {value:?}: {why}")]
pub struct FilterError {
    pub flag: &'static str,
    pub value: String,
    pub why: String,
}

impl FilterError {
    /// A bad argument stays bad when tried again.
    pub fn retryable(&self) -> bool {
        false
    }
}

fn bad(flag: &'static str, value: &str, why: &str) -> FilterError {
    FilterError {
        flag,
        value: value.to_owned(),
        why: why.to_owned(),
    }
}

/// Which files of an archive a replay reads, judged by file name alone; inside the layout each
/// field also prunes the listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Files delivered at or after this time (epoch ms, from the name's timestamp).
    pub since_ms: Option<i64>,
    /// Files delivered at or before this time (epoch ms, inclusive).
    pub until_ms: Option<i64>,
    pub accounts: Option<BTreeSet<String>>,
    pub regions: Option<BTreeSet<String>>,
    /// `(i, n)`: only accounts with `shard_of(account, n) == i`.
    pub shard: Option<(u32, u32)>,
}

/// A time argument: a bare date means the whole day (its start for --since, its end for --until).
fn parse_time(flag: &'static str, value: &str, end_of_day: bool) -> Result<i64, FilterError> {
    let v = value.trim();
    let utc = |dt: jiff::civil::DateTime| {
        dt.to_zoned(jiff::tz::TimeZone::UTC)
            .map(|z| z.timestamp().as_millisecond())
            .map_err(|e| bad(flag, value, &e.to_string()))
    };
    // A bare date (YYYY-MM-DD) means a whole day; check it first, since a date-time parser
    // would read it as midnight.
    if v.len() == 10 {
        if let Ok(d) = v.parse::<jiff::civil::Date>() {
            let start = utc(d.to_datetime(jiff::civil::Time::midnight()))?;
            return Ok(if end_of_day {
                start + 86_400_000 - 1
            } else {
                start
            });
        }
    }
    if let Ok(ts) = v.parse::<jiff::Timestamp>() {
        return Ok(ts.as_millisecond());
    }
    if let Ok(dt) = v.parse::<jiff::civil::DateTime>() {
        return utc(dt);
    }
    Err(bad(
        flag,
        value,
        "expected a UTC date or date-time, e.g. 2024-05-01 or 2024-05-01T13:00:00Z",
    ))
}

/// The documented shard hash: FNV-1a 64 (offset basis 0xcbf29ce484222325, prime 0x100000001b3)
/// over the account id's ASCII bytes, modulo `n`. Stable across versions and machines.
pub fn shard_of(account: &str, n: u32) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in account.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h % u64::from(n.max(1))) as u32
}

impl Filter {
    /// Builds a filter from the command-line texts; each error names the flag and value.
    pub fn parse(
        since: Option<&str>,
        until: Option<&str>,
        accounts: Option<&str>,
        regions: Option<&str>,
        shard: Option<&str>,
    ) -> Result<Filter, FilterError> {
        let mut f = Filter {
            since_ms: since.map(|s| parse_time("--since", s, false)).transpose()?,
            until_ms: until.map(|s| parse_time("--until", s, true)).transpose()?,
            ..Filter::default()
        };
        if let (Some(a), Some(b)) = (f.since_ms, f.until_ms) {
            if a > b {
                return Err(bad(
                    "--until",
                    until.unwrap_or_default(),
                    "is before --since",
                ));
            }
        }
        if let Some(list) = accounts {
            let mut set = BTreeSet::new();
            for a in list.split(',').map(str::trim).filter(|a| !a.is_empty()) {
                if !is_account(a) {
                    return Err(bad("--accounts", a, "an account id is 12 digits"));
                }
                set.insert(a.to_owned());
            }
            if set.is_empty() {
                return Err(bad("--accounts", list, "no account ids given"));
            }
            f.accounts = Some(set);
        }
        if let Some(list) = regions {
            let mut set = BTreeSet::new();
            for r in list.split(',').map(str::trim).filter(|r| !r.is_empty()) {
                if !is_region(r) {
                    return Err(bad("--regions", r, "not a region name, e.g. us-east-1"));
                }
                set.insert(r.to_owned());
            }
            if set.is_empty() {
                return Err(bad("--regions", list, "no regions given"));
            }
            f.regions = Some(set);
        }
        if let Some(s) = shard {
            let parsed = s.split_once('/').and_then(|(i, n)| {
                Some((i.trim().parse::<u32>().ok()?, n.trim().parse::<u32>().ok()?))
            });
            match parsed {
                Some((i, n)) if n > 0 && i < n => f.shard = Some((i, n)),
                _ => {
                    return Err(bad(
                        "--account-shard",
                        s,
                        "expected I/N with 0 <= I < N, e.g. 0/4",
                    ))
                }
            }
        }
        Ok(f)
    }

    /// Whether any filter is set (files whose names are not CloudTrail's are then left out).
    pub fn is_active(&self) -> bool {
        *self != Filter::default()
    }

    pub fn account_ok(&self, account: &str) -> bool {
        self.accounts.as_ref().is_none_or(|s| s.contains(account))
            && self.shard.is_none_or(|(i, n)| shard_of(account, n) == i)
    }

    pub fn region_ok(&self, region: &str) -> bool {
        self.regions.as_ref().is_none_or(|s| s.contains(region))
    }

    /// The accounts to visit without listing, when `--accounts` names them.
    pub fn fixed_accounts(&self) -> Option<Vec<String>> {
        self.accounts
            .as_ref()
            .map(|s| s.iter().filter(|a| self.account_ok(a)).cloned().collect())
    }

    /// The regions to visit without listing, when `--regions` names them.
    pub fn fixed_regions(&self) -> Option<Vec<String>> {
        self.regions.as_ref().map(|s| s.iter().cloned().collect())
    }

    /// `YYYY/MM/DD` of the first and last day directory that can hold a selected file.
    pub fn day_bounds(&self) -> (Option<String>, Option<String>) {
        let day = |ms: i64| {
            jiff::Timestamp::from_millisecond(ms)
                .ok()
                .map(|t| t.strftime("%Y/%m/%d").to_string())
        };
        (self.since_ms.and_then(day), self.until_ms.and_then(day))
    }

    /// Whether a day directory (`YYYY/MM/DD`) can hold a selected file.
    pub fn day_ok(&self, day: &str) -> bool {
        let (lo, hi) = self.day_bounds();
        lo.is_none_or(|lo| day >= lo.as_str()) && hi.is_none_or(|hi| day <= hi.as_str())
    }

    /// The final, exact test of one log file.
    pub fn accepts(&self, key: &TrailKey) -> bool {
        self.account_ok(&key.account)
            && self.region_ok(&key.region)
            && self.since_ms.is_none_or(|s| key.window_ms >= s)
            && self.until_ms.is_none_or(|u| key.window_ms <= u)
    }
}

impl fmt::Display for TrailKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.account, self.region, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AWSLogs/o-abc123/111122223333/CloudTrail/us-east-2/2015/08/01/111122223333_CloudTrail_us-east-2_20150801T0210Z_Mu0KsOhtH1ar15ZZ.json.gz";

    // AWS: "AccountID_CloudTrail_RegionName_YYYYMMDDTHHmmZ_UniqueString.FileNameFormat … The
    // YYYY, MM, DD, HH, and mm are the digits of the year, month, day, hour, and minute when the
    // log file was delivered." (CloudTrail log file name format; example name from that page.)
    #[test]
    fn parses_the_documented_name() {
        let k = parse_key(KEY).unwrap();
        assert_eq!(k.org.as_deref(), Some("o-abc123"));
        assert_eq!(k.account, "111122223333");
        assert_eq!(k.region, "us-east-2");
        assert_eq!(k.day, "2015/08/01");
        assert_eq!(
            k.window_ms,
            crate::core::time::parse_millis("2015-08-01T02:10:00Z").unwrap()
        );
        assert_eq!(
            k.name,
            "111122223333_CloudTrail_us-east-2_20150801T0210Z_Mu0KsOhtH1ar15ZZ.json.gz"
        );
        // Without an organization, under a bucket prefix or a local directory.
        let plain = "/tmp/x/AWSLogs/111122223333/CloudTrail/us-east-2/2015/08/01/111122223333_CloudTrail_us-east-2_20150801T0210Z_Mu0KsOhtH1ar15ZZ.json.gz";
        let p = parse_key(plain).unwrap();
        assert_eq!((p.org, p.window_ms), (None, k.window_ms));
    }

    #[test]
    fn rejects_what_is_not_a_log_file() {
        for key in [
            "AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/01/111122223333_CloudTrail-Digest_us-east-2_x_20150801T0210Z.json.gz",
            "AWSLogs/111122223333/CloudTrail/us-east-2/2015/08/01/222222222222_CloudTrail_us-east-2_20150801T0210Z_x.json.gz",
            "AWSLogs/111122223333/CloudTrail/us-east-2/2015/08/01/111122223333_CloudTrail_us-west-2_20150801T0210Z_x.json.gz",
            "AWSLogs/111122223333/CloudTrail/us-east-2/2015/08/01/111122223333_CloudTrail_us-east-2_20151301T0210Z_x.json.gz",
            "AWSLogs/111122223333/CloudTrail/us-east-2/2015/08/01/111122223333_CloudTrail_us-east-2_2015080T0210Z_x.json.gz",
            "AWSLogs/1111/CloudTrail/us-east-2/2015/08/01/1111_CloudTrail_us-east-2_20150801T0210Z_x.json.gz",
            "logs/2015/08/01/file.json.gz",
            "111122223333_CloudTrail_us-east-2_20150801T0210Z_.json.gz",
            "111122223333_CloudTrail_us-east-2_20150801T0210Z_x.txt",
            "111122223333_CloudTrail-Digest_us-east-2_20150801T0210Z_x.json.gz",
            "Upper-1_CloudTrail_us-east-2_20150801T0210Z_x.json.gz",
            "",
            "AWSLogs/",
        ] {
            assert_eq!(parse_key(key), None, "{key}");
        }
    }

    /// "AccountID_CloudTrail_RegionName_YYYYMMDDTHHmmZ_UniqueString.FileNameFormat": the name
    /// alone is enough, in a flat directory, anywhere, or off the layout under `AWSLogs/`.
    #[test]
    fn a_name_is_a_log_file_wherever_it_lies() {
        let want = parse_key(KEY).unwrap();
        let name = want.name.clone();
        for path in [
            name.clone(),
            format!("/tmp/flat/{name}"),
            format!("copies/2015/{name}"),
            format!("AWSLogs/111122223333/CloudTrail/us-east-2/2015/08/{name}"),
        ] {
            let k = parse_key(&path).unwrap_or_else(|| panic!("{path}"));
            assert_eq!(
                (&k.account, &k.region, &k.day, k.window_ms, &k.name),
                (
                    &want.account,
                    &want.region,
                    &want.day,
                    want.window_ms,
                    &want.name
                ),
                "{path}"
            );
            assert_eq!(k.org, None);
        }
        assert_eq!(parse_name(&name).map(|k| k.window_ms), Some(want.window_ms));
        assert_eq!(
            parse_name("111122223333_CloudTrail_us-east-2_20150801T0210Z_id_with_underscores.json")
                .map(|k| k.region),
            Some("us-east-2".into())
        );
    }

    #[test]
    fn levels_of_prefixes() {
        assert_eq!(level_of(""), Level::Outside);
        assert_eq!(level_of("trails/"), Level::Outside);
        assert_eq!(level_of("AWSLogs/"), Level::AwsLogs);
        assert_eq!(level_of("trails/AWSLogs/"), Level::AwsLogs);
        assert_eq!(level_of("AWSLogs/o-abc/"), Level::Org);
        assert_eq!(
            level_of("AWSLogs/o-abc/111122223333/"),
            Level::Account("111122223333".into())
        );
        assert_eq!(
            level_of("AWSLogs/111122223333/CloudTrail/"),
            Level::CloudTrail("111122223333".into())
        );
        assert_eq!(
            level_of("AWSLogs/111122223333/CloudTrail/eu-west-1/"),
            Level::Region("111122223333".into(), "eu-west-1".into())
        );
        assert_eq!(
            level_of("AWSLogs/111122223333/CloudTrail/eu-west-1/2024/"),
            Level::Deeper
        );
        assert_eq!(level_of("AWSLogs/not-an-account/"), Level::Deeper);
    }

    #[test]
    fn filters_parse_and_name_the_bad_value() {
        let f = Filter::parse(
            Some("2024-05-01"),
            Some("2024-05-02"),
            Some("111122223333, 444455556666"),
            Some("us-east-1,eu-west-1"),
            Some("1/4"),
        )
        .unwrap();
        assert_eq!(
            f.since_ms,
            crate::core::time::parse_millis("2024-05-01T00:00:00Z")
        );
        // A bare --until date means through the end of that day.
        assert_eq!(
            f.until_ms,
            crate::core::time::parse_millis("2024-05-02T23:59:59.999Z")
        );
        assert_eq!(f.shard, Some((1, 4)));
        assert_eq!(f.accounts.as_ref().unwrap().len(), 2);
        let t = Filter::parse(Some("2024-05-01T13:05"), None, None, None, None).unwrap();
        assert_eq!(
            t.since_ms,
            crate::core::time::parse_millis("2024-05-01T13:05:00Z")
        );
        for (args, needle) in [
            ((Some("yesterday"), None, None, None, None), "\"yesterday\""),
            (
                (None, Some("2024-13-01"), None, None, None),
                "\"2024-13-01\"",
            ),
            (
                (Some("2024-05-02"), Some("2024-05-01"), None, None, None),
                "before --since",
            ),
            (
                (None, None, Some("1234,111122223333"), None, None),
                "\"1234\"",
            ),
            ((None, None, Some(" , "), None, None), "no account"),
            ((None, None, None, Some("US_EAST"), None), "\"US_EAST\""),
            ((None, None, None, None, Some("4/4")), "\"4/4\""),
            ((None, None, None, None, Some("x")), "\"x\""),
            ((None, None, None, None, Some("0/0")), "\"0/0\""),
        ] {
            let e = Filter::parse(args.0, args.1, args.2, args.3, args.4).unwrap_err();
            assert!(e.to_string().contains(needle), "{e} lacks {needle}");
        }
    }

    #[test]
    fn accepts_by_name_time_account_region_and_shard() {
        let k = parse_key(KEY).unwrap();
        let at = |s: &str| crate::core::time::parse_millis(s).unwrap();
        let mut f = Filter::default();
        assert!(f.accepts(&k) && !f.is_active());
        f.since_ms = Some(at("2015-08-01T02:10:00Z"));
        assert!(f.accepts(&k));
        f.since_ms = Some(at("2015-08-01T02:11:00Z"));
        assert!(!f.accepts(&k));
        f.since_ms = None;
        f.until_ms = Some(at("2015-08-01T02:09:59Z"));
        assert!(!f.accepts(&k));
        f.until_ms = None;
        f.regions = Some(["us-east-1".to_string()].into());
        assert!(!f.accepts(&k));
        f.regions = None;
        let n = 7;
        let mine = shard_of(&k.account, n);
        f.shard = Some((mine, n));
        assert!(f.accepts(&k));
        f.shard = Some(((mine + 1) % n, n));
        assert!(!f.accepts(&k));
    }

    #[test]
    fn shard_hash_is_the_documented_fnv1a() {
        // FNV-1a 64 of "" is the offset basis; of "a" is 0xaf63dc4c8601ec8c (published vectors).
        assert_eq!(
            shard_of("", u32::MAX),
            (0xcbf2_9ce4_8422_2325u64 % u64::from(u32::MAX)) as u32
        );
        assert_eq!(
            shard_of("a", u32::MAX),
            (0xaf63_dc4c_8601_ec8cu64 % u64::from(u32::MAX)) as u32
        );
        // The README's python one-liner prints 1 for this account and 4 shards.
        assert_eq!(shard_of("111122223333", 4), 1);
        // Every account lands in exactly one shard.
        for a in ["111122223333", "444455556666", "000000000001"] {
            let hits = (0..5).filter(|i| shard_of(a, 5) == *i).count();
            assert_eq!(hits, 1);
        }
    }

    #[test]
    fn day_bounds_prune_day_directories() {
        let f = Filter::parse(
            Some("2024-05-01T23:00:00Z"),
            Some("2024-05-03"),
            None,
            None,
            None,
        )
        .unwrap();
        assert_eq!(
            f.day_bounds(),
            (Some("2024/05/01".into()), Some("2024/05/03".into()))
        );
        assert!(!f.day_ok("2024/04/30"));
        assert!(f.day_ok("2024/05/01"));
        assert!(f.day_ok("2024/05/03"));
        assert!(!f.day_ok("2024/05/04"));
        assert!(!f.day_ok("2024/12/01"));
    }
}
