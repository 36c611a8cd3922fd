//! Printing a checklist: a table for people (per account, one line per check, the fix under each
//! failure) or one JSON document for pipelines. Pure: it formats what it is given.

use std::collections::BTreeMap;

use serde_json::json;

use super::check::{exit_code, Item, Status};

/// Counts per status, in a fixed order.
pub fn summary(items: &[Item]) -> BTreeMap<&'static str, usize> {
    let mut m: BTreeMap<&'static str, usize> = ["ok", "warn", "fail", "unknown", "skipped"]
        .into_iter()
        .map(|s| (s, 0))
        .collect();
    for i in items {
        let k = match i.status {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Unknown => "unknown",
            Status::Skipped => "skipped",
        };
        *m.get_mut(k).expect("every status") += 1;
    }
    m
}

fn verdict(code: u8) -> &'static str {
    match code {
        0 => "healthy",
        3 => "BROKEN",
        _ => "UNKNOWN (some checks could not be read)",
    }
}

/// The checklist as a table.
pub fn table(items: &[Item], own: Option<&str>) -> String {
    let mut out = String::new();
    let mut last: Option<&str> = None;
    let width = items.iter().map(|i| i.check.len()).max().unwrap_or(0);
    for i in items {
        if last != Some(i.account.as_str()) {
            let whose = if Some(i.account.as_str()) == own {
                " (the fleet's)"
            } else {
                " (member)"
            };
            out.push_str(&format!(
                "account {}{}\n",
                i.account,
                if own.is_some() { whose } else { "" }
            ));
            last = Some(&i.account);
        }
        out.push_str(&format!(
            "  {:<8} {:<width$}  {}\n",
            i.status.label(),
            i.check,
            i.detail
        ));
        if let Some(fix) = &i.fix {
            if i.status != Status::Ok && i.status != Status::Skipped {
                out.push_str(&format!("  {:<8} {:<width$}  fix: {fix}\n", "", ""));
            }
        }
    }
    let s = summary(items);
    let code = exit_code(items);
    out.push_str(&format!(
        "{} ok, {} warn, {} fail, {} unknown, {} skipped: {} (exit {code})\n",
        s["ok"],
        s["warn"],
        s["fail"],
        s["unknown"],
        s["skipped"],
        verdict(code)
    ));
    out
}

/// The checklist as one JSON document.
pub fn json(items: &[Item]) -> serde_json::Value {
    let code = exit_code(items);
    json!({
        "healthy": code == 0,
        "exit_code": code,
        "summary": summary(items),
        "items": items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_prints_the_fix_under_a_failure_and_the_verdict() {
        let items = vec![
            Item::ok("111122223333", "stream", "s is ACTIVE"),
            Item::new(
                "111122223333",
                "eventbridge.rule",
                Status::Fail,
                "rule r is DISABLED",
            )
            .fix("aws events enable-rule --name r"),
        ];
        let t = table(&items, Some("111122223333"));
        assert!(t.contains("account 111122223333 (the fleet's)"), "{t}");
        assert!(
            t.contains("FAIL     eventbridge.rule  rule r is DISABLED"),
            "{t}"
        );
        assert!(t.contains("fix: aws events enable-rule --name r"), "{t}");
        assert!(
            t.ends_with("1 ok, 0 warn, 1 fail, 0 unknown, 0 skipped: BROKEN (exit 3)\n"),
            "{t}"
        );
        let j = json(&items);
        assert_eq!(j["exit_code"], 3);
        assert_eq!(j["items"][1]["status"], "fail");
        assert_eq!(j["summary"]["fail"], 1);
    }
}
