//! The rule of the house, checked: every room imports only rooms below it.
//! The ranks below are the drawing in ARCHITECTURE.md ("The house"); a
//! `use crate::X` (or a `crate::X::` path) from a room to one of the same
//! or a higher rank fails the test, with the file and line, so a cycle or
//! an import up the layers cannot come back unnoticed.

/// Each top-level room and its rank: a room may use only lower ranks.
/// Rooms of one rank never use each other.
const RANKS: &[(&str, u8)] = &[
    ("cli", 9),
    ("submit", 8),
    ("queue", 7),
    ("route", 6),
    ("transport", 6),
    ("message", 5),
    ("cache", 4),
    ("config", 3),
    ("plan", 2),
    ("owned", 1),
    ("address", 0),
    ("exit", 0),
    ("mail_params", 0),
    ("sys", 0),
];

#[cfg(test)]
mod tests {
    use super::RANKS;
    use std::path::{Path, PathBuf};

    fn rank(room: &str) -> Option<u8> {
        RANKS.iter().find(|(r, _)| *r == room).map(|(_, k)| *k)
    }

    fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// The rooms a line of code names through `crate::`, comments left out.
    fn used(line: &str) -> Vec<String> {
        let code = line.split("//").next().unwrap_or("");
        let mut rooms = Vec::new();
        for (at, _) in code.match_indices("crate::") {
            let rest = &code[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                // `use crate::{a, b::c}`: the first word of each item.
                let group = group.split('}').next().unwrap_or("");
                for item in group.split(',') {
                    let word: String = item
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    rooms.push(word);
                }
            } else {
                rooms.push(
                    rest.chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect(),
                );
            }
        }
        rooms
    }

    #[test]
    fn every_room_imports_only_rooms_below_it() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        sources(&src, &mut files);
        files.sort();
        let mut wrong = Vec::new();
        let mut rooms_seen = 0;
        for file in &files {
            let rel = file.strip_prefix(&src).unwrap();
            let first = rel.components().next().unwrap().as_os_str();
            let room = first.to_string_lossy().trim_end_matches(".rs").to_string();
            if matches!(room.as_str(), "main" | "lib" | "layers") {
                continue;
            }
            let Some(mine) = rank(&room) else {
                wrong.push(format!(
                    "{}: room `{room}` has no rank in layers.rs",
                    rel.display()
                ));
                continue;
            };
            rooms_seen += 1;
            let text = std::fs::read_to_string(file).unwrap();
            for (n, line) in text.lines().enumerate() {
                for other in used(line) {
                    if other == room || other.is_empty() {
                        continue;
                    }
                    match rank(&other) {
                        Some(theirs) if theirs < mine => {}
                        Some(_) => wrong.push(format!(
                            "{}:{}: `{room}` uses `{other}`, which is not below it",
                            rel.display(),
                            n + 1
                        )),
                        None => {}
                    }
                }
            }
        }
        assert!(rooms_seen > 20, "the walk found too few files");
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn the_check_sees_an_import_up_the_layers() {
        assert_eq!(used("use crate::{cli, plan::Plan};"), ["cli", "plan"]);
        assert_eq!(
            used("    let x = crate::cache::load(); // crate::cli"),
            ["cache"]
        );
        assert!(used("//! see crate::cli").is_empty());
    }
}
