//! stub
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub line: u64,
    pub column: u64,
    pub offset: u64,
    pub index: u64,
}
impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}", self.line)
    }
}
pub enum Item<'a> {
    Record { pos: Position, bytes: &'a [u8] },
    Malformed { pos: Position, reason: String },
}
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FileStats {
    pub records: u64,
    pub malformed: u64,
    pub bytes_in: u64,
    pub bytes_decoded: u64,
    pub gzip: bool,
}
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("x")]
    X,
}
impl InputError {
    pub fn retryable(&self) -> bool {
        false
    }
}
pub fn read_file(_p: &std::path::Path, _f: impl FnMut(Item<'_>)) -> Result<FileStats, InputError> {
    todo!()
}
pub fn expand_paths(_p: &[std::path::PathBuf]) -> Result<Vec<std::path::PathBuf>, InputError> {
    todo!()
}
pub fn split_records(_b: &[u8], _f: impl FnMut(Item<'_>)) -> FileStats {
    todo!()
}
