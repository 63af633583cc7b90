//! Which action kind a function call is: the table that turns BFCL's (and the synthetic
//! episodes') function calls into labels.
//!
//! | functions | kind |
//! |---|---|
//! | file-system reads and navigation: `ls`, `cd`, `pwd`, `cat`, `grep`, `tail`, `wc`, `diff`, `find`, `du`, `sort` (BFCL's `GorillaFileSystem`; `sort` prints the sorted file, it does not write it); synthetic `read_file`, `list_dir`, `search_code` | `file_read` |
//! | file-system writes: `touch`, `echo`, `mkdir`, `mv`, `cp`, `rm`, `rmdir`; synthetic `write_file`, `edit_file` | `file_write` |
//! | web search and URL fetch: `search_engine_query`, `fetch_url_content` (BFCL's `WebSearchAPI`); synthetic `web_search`, `fetch_url`, `search_docs` | `retrieval` |
//! | memory look-ups: `*_retrieve`, `*_retrieve_all`, `*_key_search`, `*_list_keys` (BFCL's `MemoryAPI`) | `retrieval` |
//! | every other API (trading, travel, vehicle, messaging, posting, tickets, math, memory writes, …) | `tool_call` |
//!
//! The file-system names are only file-system operations in the file-system classes
//! (`GorillaFileSystem`, the synthetic workspace); the table is keyed by function name because
//! BFCL's multi-turn classes do not reuse these names elsewhere.

use spec_actions_core::ActionKind;

/// File-system functions that only read or navigate.
pub const FILE_READ_FUNCTIONS: &[&str] = &[
    "ls",
    "cd",
    "pwd",
    "cat",
    "grep",
    "tail",
    "wc",
    "diff",
    "find",
    "du",
    "sort",
    "read_file",
    "list_dir",
    "search_code",
];

/// File-system functions that change files or folders.
pub const FILE_WRITE_FUNCTIONS: &[&str] = &[
    "touch",
    "echo",
    "mkdir",
    "mv",
    "cp",
    "rm",
    "rmdir",
    "write_file",
    "edit_file",
];

/// Web search, URL fetch and documentation search.
pub const RETRIEVAL_FUNCTIONS: &[&str] = &[
    "search_engine_query",
    "fetch_url_content",
    "web_search",
    "fetch_url",
    "search_docs",
];

/// The kind of a call of `function` (see the module table).
pub fn kind_of_function(function: &str) -> ActionKind {
    if FILE_READ_FUNCTIONS.contains(&function) {
        ActionKind::FileRead
    } else if FILE_WRITE_FUNCTIONS.contains(&function) {
        ActionKind::FileWrite
    } else if RETRIEVAL_FUNCTIONS.contains(&function) || is_memory_lookup(function) {
        ActionKind::Retrieval
    } else {
        ActionKind::ToolCall
    }
}

fn is_memory_lookup(function: &str) -> bool {
    (function.starts_with("core_memory_")
        || function.starts_with("archival_memory_")
        || function.starts_with("memory_"))
        && ["_retrieve", "_retrieve_all", "_key_search", "_list_keys"]
            .iter()
            .any(|s| function.ends_with(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_rows() {
        assert_eq!(kind_of_function("cd"), ActionKind::FileRead);
        assert_eq!(kind_of_function("sort"), ActionKind::FileRead);
        assert_eq!(kind_of_function("mv"), ActionKind::FileWrite);
        assert_eq!(kind_of_function("echo"), ActionKind::FileWrite);
        assert_eq!(kind_of_function("fetch_url_content"), ActionKind::Retrieval);
        assert_eq!(kind_of_function("core_memory_retrieve"), ActionKind::Retrieval);
        assert_eq!(kind_of_function("core_memory_add"), ActionKind::ToolCall);
        assert_eq!(kind_of_function("memory_retrieve"), ActionKind::Retrieval);
        assert_eq!(kind_of_function("place_order"), ActionKind::ToolCall);
        assert_eq!(kind_of_function("cd_player_play"), ActionKind::ToolCall);
    }
}
