//! `check`'s pure core: deploy inputs (Terraform plans, CloudFormation templates, bare policy,
//! ACL and PublicAccessBlock documents) read by content into one shape ([`resource`]), turned
//! into the calls the deploy would make as the fold's own changes ([`translate`]), and judged by
//! the same fold, exposure and decider as the stream ([`judge`]). No I/O: callers pass text in.
//! It must not judge "public" itself.

pub mod cloudformation;
pub mod document;
pub mod judge;
pub mod resource;
pub mod terraform;
pub mod translate;
pub mod unknown;

use serde_json::Value;

pub use judge::{judge, Finding, Verdict};
pub use resource::Declared;
pub use translate::Account;

/// What kind of input a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    TerraformPlan,
    CloudFormation,
    Document(document::Kind),
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::TerraformPlan => "terraform-plan",
            Format::CloudFormation => "cloudformation",
            Format::Document(document::Kind::Policy) => "policy",
            Format::Document(document::Kind::Acl) => "acl",
            Format::Document(document::Kind::Block) => "public-access-block",
        }
    }
}

/// A file that is none of the inputs, or not readable as one, with where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InputError {
    pub message: String,
    /// 1-based line and column, when the parser says.
    pub line: Option<usize>,
    pub column: Option<usize>,
}

/// Reads one file's text, detecting its format by content; `name` labels a bare document.
pub fn read(text: &str, name: &str) -> Result<(Format, Declared), InputError> {
    let value = match serde_json::from_str::<Value>(text) {
        Ok(v) => v,
        Err(json_err) => {
            let looks_json = text.trim_start().starts_with(['{', '[']);
            match cloudformation::from_yaml(text) {
                Ok(v) if !looks_json && cloudformation::is_template(&v) => v,
                Ok(_) if !looks_json => {
                    return Err(InputError {
                        message: "YAML that is not a CloudFormation template".into(),
                        line: None,
                        column: None,
                    })
                }
                Err((message, at)) if !looks_json => {
                    return Err(InputError {
                        message: format!("not JSON, and not YAML: {message}"),
                        line: at.map(|a| a.0),
                        column: at.map(|a| a.1),
                    })
                }
                _ => {
                    return Err(InputError {
                        message: format!("not JSON: {json_err}"),
                        line: Some(json_err.line()),
                        column: Some(json_err.column()),
                    })
                }
            }
        }
    };
    if terraform::is_plan(&value) {
        return Ok((Format::TerraformPlan, terraform::parse(&value, text)));
    }
    if cloudformation::is_template(&value) {
        return Ok((Format::CloudFormation, cloudformation::parse(&value, text)));
    }
    if let Some(kind) = document::kind(&value) {
        return Ok((Format::Document(kind), document::parse(&value, kind, name)));
    }
    Err(InputError {
        message: "neither a Terraform plan, a CloudFormation template, nor a policy, ACL or \
                  PublicAccessBlock document"
            .into(),
        line: Some(1),
        column: Some(1),
    })
}
