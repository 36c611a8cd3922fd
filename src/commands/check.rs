//! `bucketwarden check`: deploy inputs (Terraform plans, CloudFormation templates, bare policy,
//! ACL and PublicAccessBlock documents) read from files and directories, judged by `core::iac`
//! (the same fold, exposure and decider as the stream), and reported as a table, JSON or SARIF
//! 2.1.0. Owns file walking and the report shapes; it must not judge exposure itself.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{json, Value};

use crate::core::decision::Decider;
use crate::core::iac::{self, Account, Finding, InputError, Verdict};

/// One file's result.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub path: String,
    /// `terraform-plan`, `cloudformation`, `policy`, `acl`, `public-access-block`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<&'static str>,
    /// Why the file could not be checked, with its position.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<FileError>,
    pub findings: Vec<Finding>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileError {
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub files: usize,
    /// Files (or resources of a file) that could not be read; the rest is checked.
    pub errors: usize,
    pub findings: usize,
    pub public: usize,
    pub unknown: usize,
    pub deploy_fails: usize,
    pub exempt: usize,
    /// Public or unknown and not exempt: the check fails.
    pub failing: usize,
}

impl Summary {
    /// 4 when something non-exempt would be public (or could be: an unknown value is never
    /// assumed safe), else 1 when an input could not be read, else 0.
    pub fn exit_code(&self) -> u8 {
        if self.failing > 0 {
            4
        } else if self.errors > 0 {
            1
        } else {
            0
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub summary: Summary,
    pub files: Vec<FileReport>,
}

const EXTENSIONS: [&str; 5] = ["json", "yaml", "yml", "template", "tfplan.json"];

/// The files to check: each file given, and under each directory the files with a JSON or
/// YAML extension, recursively, in path order.
pub fn files(paths: &[PathBuf]) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            out.push(dir.to_owned());
            return;
        };
        let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if p
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| EXTENSIONS.contains(&e))
            {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out);
        } else {
            out.push(p.clone());
        }
    }
    out
}

/// Checks one file's text.
pub fn check_text(path: &str, text: &str, account: &Account, decider: &Decider) -> FileReport {
    match iac::read(text, path) {
        Ok((format, declared)) => {
            let mut findings = iac::judge(&declared, account, decider);
            findings.sort_by(|a, b| {
                (a.verdict, a.line, &a.address).cmp(&(b.verdict, b.line, &b.address))
            });
            let error = (!declared.problems.is_empty()).then(|| FileError {
                message: declared
                    .problems
                    .iter()
                    .map(|p| format!("{}: {}", p.origin.address, p.message))
                    .collect::<Vec<_>>()
                    .join("; "),
                line: declared.problems[0].origin.line,
                column: None,
            });
            FileReport {
                path: path.to_owned(),
                format: Some(format.as_str()),
                error,
                findings,
            }
        }
        Err(InputError {
            message,
            line,
            column,
        }) => FileReport {
            path: path.to_owned(),
            format: None,
            error: Some(FileError {
                message,
                line,
                column,
            }),
            findings: Vec::new(),
        },
    }
}

/// Checks every file; an unreadable one is reported and counted, the rest checked.
pub fn check(paths: &[PathBuf], account: &Account, decider: &Decider) -> Report {
    let mut files_out = Vec::new();
    for p in files(paths) {
        let name = p.display().to_string();
        let report = match std::fs::read(&p) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => check_text(&name, &text, account, decider),
                Err(e) => unreadable(&name, format!("not UTF-8: {e}")),
            },
            Err(e) => unreadable(&name, e.to_string()),
        };
        files_out.push(report);
    }
    let mut s = Summary {
        files: files_out.len(),
        ..Summary::default()
    };
    for f in &files_out {
        s.errors += usize::from(f.error.is_some());
        for x in &f.findings {
            s.findings += 1;
            match x.verdict {
                Verdict::Public => s.public += 1,
                Verdict::Unknown => s.unknown += 1,
                Verdict::DeployFails => s.deploy_fails += 1,
                Verdict::NotPublic => {}
            }
            s.exempt +=
                usize::from(x.exempt && matches!(x.verdict, Verdict::Public | Verdict::Unknown));
            s.failing += usize::from(x.fails);
        }
    }
    Report {
        summary: s,
        files: files_out,
    }
}

fn unreadable(path: &str, message: String) -> FileReport {
    FileReport {
        path: path.to_owned(),
        format: None,
        error: Some(FileError {
            message,
            line: None,
            column: None,
        }),
        findings: Vec::new(),
    }
}

fn location(path: &str, line: Option<usize>) -> String {
    match line {
        Some(l) => format!("{path}:{l}"),
        None => path.to_owned(),
    }
}

/// The table for people: one row per bucket or object, then the unreadable inputs.
pub fn table(r: &Report) -> String {
    let mut rows = vec![[
        "VERDICT".to_string(),
        "EXEMPT".into(),
        "RESOURCE".into(),
        "FILE:LINE".into(),
        "BUCKET".into(),
        "REASONS".into(),
    ]];
    for f in &r.files {
        for x in &f.findings {
            let bucket = match (&x.bucket, &x.key) {
                (Some(b), Some(k)) => format!("{b}/{k}"),
                (Some(b), None) => b.clone(),
                (None, Some(k)) => format!("?/{k}"),
                (None, None) => "?".into(),
            };
            rows.push([
                x.verdict.as_str().to_string(),
                if x.exempt { "yes" } else { "no" }.into(),
                x.address.clone(),
                location(&f.path, x.line),
                bucket,
                x.reasons.join(", "),
            ]);
        }
    }
    let widths: Vec<usize> = (0..5)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        for (i, cell) in row.iter().enumerate().take(5) {
            out.push_str(&format!("{cell:<w$}  ", w = widths[i]));
        }
        out.push_str(&row[5]);
        out.push('\n');
    }
    for f in &r.files {
        if let Some(e) = &f.error {
            let at = match (e.line, e.column) {
                (Some(l), Some(c)) => format!("{}:{l}:{c}", f.path),
                (Some(l), None) => format!("{}:{l}", f.path),
                _ => f.path.clone(),
            };
            out.push_str(&format!("error: {at}: {}\n", e.message));
        }
    }
    let s = &r.summary;
    out.push_str(&format!(
        "{} files, {} findings: {} public, {} unknown, {} deploy-fails, {} exempt; {} failing; {} errors\n",
        s.files, s.findings, s.public, s.unknown, s.deploy_fails, s.exempt, s.failing, s.errors
    ));
    out
}

/// The stable SARIF rule a reason belongs to, and its description; `None` for context reasons
/// (assumptions, neutralised grants) that are not findings of their own.
pub fn rule_of(reason: &str) -> Option<(String, String)> {
    if reason.contains(":ignored-by:") || reason.contains(":restricted-by:") {
        return None;
    }
    let parts: Vec<&str> = reason.split(':').collect();
    let slug = |s: &str| s.replace('*', "star");
    match parts.as_slice() {
        ["acl", group, ..] => Some((
            format!("acl-{group}"),
            format!("An ACL grants access to the {group} group (S3: \"public if it grants any permissions to members of the predefined AllUsers or AuthenticatedUsers groups\")"),
        )),
        ["policy", .., kind] => Some((
            format!("policy-{}", slug(kind)),
            format!("A bucket policy statement is public: {kind}"),
        )),
        ["access-point", _, "policy", .., kind] => Some((
            format!("access-point-policy-{}", slug(kind)),
            format!("An access point policy statement is public: {kind}"),
        )),
        ["unknown", ..] => Some((
            "unknown-value".into(),
            "A value the deploy sets is unknown before deploy and could make the bucket public".into(),
        )),
        ["deploy-fails", .., protection] => Some((
            format!("deploy-fails-{}", protection.replace('@', "-")),
            format!("S3 would refuse this call ({protection}): the deploy fails"),
        )),
        _ => None,
    }
}

/// SARIF 2.1.0 for code scanning: one result per finding and rule.
pub fn sarif(r: &Report) -> Value {
    let mut rules: Vec<(String, String)> = Vec::new();
    let mut results = Vec::new();
    for f in &r.files {
        for x in &f.findings {
            if x.verdict == Verdict::NotPublic {
                continue;
            }
            let level = if x.fails { "error" } else { "warning" };
            let mut seen: Vec<String> = Vec::new();
            // An unknown verdict rests on the unknown value, not on the stand-in's findings.
            let reasons = x
                .reasons
                .iter()
                .filter(|r| x.verdict != Verdict::Unknown || r.starts_with("unknown:"));
            for reason in reasons {
                let Some((id, text)) = rule_of(reason) else {
                    continue;
                };
                if seen.contains(&id) {
                    continue;
                }
                seen.push(id.clone());
                if !rules.iter().any(|(r, _)| *r == id) {
                    rules.push((id.clone(), text));
                }
                let what = match (&x.bucket, &x.key) {
                    (Some(b), Some(k)) => format!("object {b}/{k}"),
                    (Some(b), None) => format!("bucket {b}"),
                    _ => format!("the bucket of {}", x.address),
                };
                let mut region = json!({});
                if let Some(l) = x.line {
                    region = json!({"startLine": l});
                }
                results.push(json!({
                    "ruleId": id,
                    "level": level,
                    "message": {"text": format!(
                        "{}: {what} would be {}{} ({})",
                        x.address,
                        x.verdict.as_str(),
                        if x.exempt { " (exempt)" } else { "" },
                        x.reasons.join(", ")
                    )},
                    "locations": [{"physicalLocation": {
                        "artifactLocation": {"uri": f.path.trim_start_matches("./")},
                        "region": region,
                    }}],
                    "partialFingerprints": {"bucketwarden/v1": format!("{}|{}|{}", x.address, x.key.as_deref().unwrap_or(""), id)},
                }));
            }
        }
        if let Some(e) = &f.error {
            if !rules.iter().any(|(r, _)| r == "input-error") {
                rules.push((
                    "input-error".into(),
                    "An input could not be read: it was not checked".into(),
                ));
            }
            results.push(json!({
                "ruleId": "input-error",
                "level": "error",
                "message": {"text": e.message},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": f.path.trim_start_matches("./")},
                    "region": {"startLine": e.line.unwrap_or(1), "startColumn": e.column.unwrap_or(1)},
                }}],
            }));
        }
    }
    rules.sort();
    json!({
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{
            "tool": {"driver": {
                "name": "bucketwarden",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html",
                "rules": rules.iter().map(|(id, text)| json!({
                    "id": id,
                    "name": id,
                    "shortDescription": {"text": text},
                })).collect::<Vec<_>>(),
            }},
            "results": results,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_stable_per_reason_kind() {
        assert_eq!(rule_of("acl:AllUsers:READ").unwrap().0, "acl-AllUsers");
        assert_eq!(
            rule_of("policy:#1:principal-*").unwrap().0,
            "policy-principal-star"
        );
        assert_eq!(
            rule_of("policy:Sid1:principal-*").unwrap().0,
            "policy-principal-star"
        );
        assert_eq!(
            rule_of("access-point:ap1:policy:#0:principal-*").unwrap().0,
            "access-point-policy-principal-star"
        );
        assert_eq!(
            rule_of("deploy-fails:aws_s3_bucket_policy.p:BlockPublicPolicy@account")
                .unwrap()
                .0,
            "deploy-fails-BlockPublicPolicy-account"
        );
        assert!(rule_of("acl:AllUsers:READ:ignored-by:BucketOwnerEnforced").is_none());
        assert!(rule_of("assumed:policy-absent").is_none());
    }
}
