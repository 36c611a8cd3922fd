//! stub
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct PolicyFindings {
    pub reasons: Vec<String>,
}
impl PolicyFindings {
    pub fn is_public(&self) -> bool {
        !self.reasons.is_empty()
    }
}
pub fn analyze(_p: &serde_json::Value) -> PolicyFindings {
    todo!()
}
