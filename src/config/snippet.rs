//! Source snippets for rendered diagnostics, bounded whatever the file
//! looks like (SPEC §9: a 4 MiB file may be one line, or one quoted string
//! over a million lines).
//!
//! codespan-reporting prints every line a label touches, whole, and walks
//! every line inside a multi-line label. So each diagnostic is rendered
//! against a [`Snippet`]: a small text made of only the lines it shows —
//! a long line cut to windows around the label ends (`…` where cut), a
//! long multi-line label reduced to its first and last lines — which tells
//! codespan the original line and column numbers. Control characters other
//! than tabs are shown as Unicode control pictures (`␛`), so that a file
//! cannot drive the terminal or CI log it is checked in.
//!
//! Line numbers come from a [`LineTable`], built in one pass over the text
//! for every offset the output needs.

use super::diag::Span;
use codespan_reporting::files::{Error, Files};
use std::collections::BTreeMap;
use std::ops::Range;

/// A line up to this many bytes is shown whole.
pub const MAX_LINE: usize = 160;
/// Bytes shown on each side of a label end in a longer line.
pub const WINDOW: usize = 40;
/// A multi-line label over more lines than this shows only its first four
/// and last two (what codespan would print of it anyway).
const LABEL_LINES: usize = 7;
const CUT: &str = "…";

/// Line, column and line start of offsets into a text, computed in one
/// pass over the text (columns count characters, as the renderers do).
#[derive(Debug, Default)]
pub struct LineTable {
    /// (offset, 0-based line, 1-based column, line start), sorted by offset.
    entries: Vec<(usize, usize, usize, usize)>,
}

impl LineTable {
    pub fn new(src: &str, offsets: impl IntoIterator<Item = usize>) -> Self {
        let mut offsets: Vec<usize> = offsets
            .into_iter()
            .map(|o| floor_char_boundary(src, o.min(src.len())))
            .collect();
        offsets.sort_unstable();
        offsets.dedup();
        let b = src.as_bytes();
        let mut entries = Vec::with_capacity(offsets.len());
        let (mut pos, mut line, mut start, mut col) = (0usize, 0usize, 0usize, 1usize);
        for o in offsets {
            let mut newline = false;
            for i in memchr::memchr_iter(b'\n', &b[pos..o]) {
                line += 1;
                start = pos + i + 1;
                newline = true;
            }
            if newline {
                col = 1 + src[start..o].chars().count();
            } else {
                col += src[pos..o].chars().count();
            }
            pos = o;
            entries.push((o, line, col, start));
        }
        LineTable { entries }
    }

    /// The table for every label of `spans`' diagnostics.
    pub fn for_spans<'a>(src: &str, spans: impl IntoIterator<Item = &'a Span>) -> Self {
        Self::new(src, spans.into_iter().flat_map(|s| [s.start, s.end]))
    }

    fn entry(&self, src: &str, offset: usize) -> Option<(usize, usize, usize)> {
        let o = floor_char_boundary(src, offset.min(src.len()));
        let i = self.entries.binary_search_by_key(&o, |e| e.0).ok()?;
        let e = self.entries[i];
        Some((e.1, e.2, e.3))
    }

    /// 1-based line and column of `offset` (which must be in the table;
    /// otherwise it is counted from the start of the text).
    pub fn line_col(&self, src: &str, offset: usize) -> (usize, usize) {
        match self.entry(src, offset) {
            Some((line, col, _)) => (line + 1, col),
            None => super::diag::line_col(src, offset),
        }
    }

    /// 0-based line and line start of `offset`.
    fn line_of(&self, src: &str, offset: usize) -> (usize, usize) {
        match self.entry(src, offset) {
            Some((line, _, start)) => (line, start),
            None => {
                let o = floor_char_boundary(src, offset.min(src.len()));
                let before = &src.as_bytes()[..o];
                let line = memchr::memchr_iter(b'\n', before).count();
                let start = memchr::memrchr(b'\n', before).map_or(0, |i| i + 1);
                (line, start)
            }
        }
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_char_boundary(s: &str, mut i: usize) -> usize {
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// Where the line starting at `start` ends (its `\n`, or the end of text).
fn line_end(src: &str, start: usize) -> usize {
    memchr::memchr(b'\n', &src.as_bytes()[start..]).map_or(src.len(), |i| start + i)
}

/// One line of a snippet.
#[derive(Debug)]
struct SnipLine {
    /// In the snippet's text, with its `\n`.
    range: Range<usize>,
    /// 1-based line number in the file.
    number: usize,
}

/// The lines one diagnostic shows, as a small file for codespan.
#[derive(Debug)]
pub struct Snippet<'n> {
    name: &'n str,
    text: String,
    lines: Vec<SnipLine>,
    /// (offset in `text`, 1-based column in the file) of every label end.
    columns: Vec<(usize, usize)>,
}

/// A line of the file to show: its start and the label ends on it.
#[derive(Debug, Default)]
struct ShownLine {
    start: usize,
    points: Vec<usize>,
}

impl<'n> Snippet<'n> {
    /// The snippet for labels `spans` of `src`, and each span mapped into
    /// it (in the same order).
    pub fn new(
        name: &'n str,
        src: &str,
        table: &LineTable,
        spans: &[Span],
    ) -> (Snippet<'n>, Vec<Range<usize>>) {
        let mut wanted: BTreeMap<usize, ShownLine> = BTreeMap::new();
        fn want(
            wanted: &mut BTreeMap<usize, ShownLine>,
            line: usize,
            start: usize,
            point: Option<usize>,
        ) {
            let w = wanted.entry(line).or_insert_with(|| ShownLine {
                start,
                points: Vec::new(),
            });
            w.points.extend(point);
        }
        let clamp = |o: usize| floor_char_boundary(src, o.min(src.len()));
        for s in spans {
            let (a, b) = (clamp(s.start), clamp(s.end.max(s.start)));
            let (la, sa) = table.line_of(src, a);
            let (lb, sb) = table.line_of(src, b);
            want(&mut wanted, la, sa, Some(a));
            want(&mut wanted, lb, sb, Some(b));
            // The lines inside a multi-line label: all of a short one, the
            // first four and the last two of a long one.
            let mut start = sa;
            for line in la + 1..lb.min(la + 4) {
                start = line_end(src, start) + 1;
                want(&mut wanted, line, start, None);
            }
            if lb - la >= LABEL_LINES && sb > 0 {
                let prev = memchr::memrchr(b'\n', &src.as_bytes()[..sb - 1]).map_or(0, |i| i + 1);
                want(&mut wanted, lb - 1, prev, None);
            } else {
                for line in (la + 4).max(la + 1)..lb {
                    start = line_end(src, start) + 1;
                    want(&mut wanted, line, start, None);
                }
            }
        }
        // A single line between two shown lines is shown (as codespan
        // does); a larger gap gets two empty lines, which codespan never
        // prints: it draws its break (`·`) there.
        let keys: Vec<(usize, usize)> = wanted.iter().map(|(l, w)| (*l, w.start)).collect();
        for pair in keys.windows(2) {
            let ((a, sa), (b, _)) = (pair[0], pair[1]);
            if b == a + 2 {
                want(&mut wanted, a + 1, line_end(src, sa) + 1, None);
            }
        }
        let mut snip = Snippet {
            name,
            text: String::new(),
            lines: Vec::new(),
            columns: Vec::new(),
        };
        let mut map: Vec<(usize, usize)> = Vec::new();
        let mut last: Option<usize> = None;
        for (line, w) in &wanted {
            if let Some(prev) = last {
                if *line > prev + 2 {
                    for n in [prev + 2, line - 1] {
                        let at = snip.text.len();
                        snip.text.push('\n');
                        snip.lines.push(SnipLine {
                            range: at..at + 1,
                            number: n,
                        });
                    }
                }
            }
            last = Some(*line);
            snip.push_line(src, table, *line, w, &mut map);
        }
        if snip.lines.is_empty() {
            snip.text.push('\n');
            snip.lines.push(SnipLine {
                range: 0..1,
                number: 1,
            });
        }
        let mapped = spans
            .iter()
            .map(|s| {
                let a = lookup(&map, clamp(s.start));
                let b = lookup(&map, clamp(s.end.max(s.start))).max(a);
                a..b
            })
            .collect();
        (snip, mapped)
    }

    /// Append one line of the file: whole, or cut to windows around its
    /// points; `map` gets (file offset, snippet offset) of each point.
    fn push_line(
        &mut self,
        src: &str,
        table: &LineTable,
        line: usize,
        w: &ShownLine,
        map: &mut Vec<(usize, usize)>,
    ) {
        let start = w.start.min(src.len());
        // The end of a long line is looked for only as far as it is shown.
        let reach = w.points.iter().copied().max().unwrap_or(start).max(start);
        let reach = (reach + WINDOW).max(start + MAX_LINE) + 1;
        let end = match memchr::memchr(b'\n', &src.as_bytes()[start..reach.min(src.len())]) {
            Some(i) => start + i,
            None if reach >= src.len() => src.len(),
            None => ceil_char_boundary(src, reach),
        };
        let mut windows: Vec<(usize, usize)> = if end - start <= MAX_LINE {
            vec![(start, end)]
        } else if w.points.is_empty() {
            vec![(start, ceil_char_boundary(src, start + 2 * WINDOW))]
        } else {
            let mut v: Vec<(usize, usize)> = w
                .points
                .iter()
                .map(|&p| {
                    (
                        floor_char_boundary(src, p.saturating_sub(WINDOW).max(start)),
                        ceil_char_boundary(src, (p + WINDOW).min(end)),
                    )
                })
                .collect();
            v.sort_unstable();
            v
        };
        // Merge windows that overlap or almost touch.
        let mut merged: Vec<(usize, usize)> = Vec::new();
        for (a, b) in windows.drain(..) {
            match merged.last_mut() {
                Some(m) if a <= m.1 + 8 => m.1 = m.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        let at = self.text.len();
        let mut points: Vec<usize> = w.points.clone();
        points.sort_unstable();
        points.dedup();
        for (i, &(a, b)) in merged.iter().enumerate() {
            if a > start || i > 0 {
                self.text.push_str(CUT);
            }
            for (off, c) in src[a..b].char_indices() {
                let o = a + off;
                record(&mut points, o, self.text.len(), map);
                match c {
                    '\t' => self.text.push('\t'),
                    '\r' if o + 1 == end => {}
                    c if c.is_control() => self.text.push(picture(c)),
                    c => self.text.push(c),
                }
            }
            record(&mut points, b, self.text.len(), map);
        }
        if merged
            .last()
            .is_some_and(|m| m.1 < end || end < src.len() && src.as_bytes()[end] != b'\n')
        {
            self.text.push_str(CUT);
        }
        // A point past the shown text (the end of a cut line) maps to the
        // end of the line.
        for p in points {
            map.push((p, self.text.len()));
        }
        for &(o, ex) in map.iter().filter(|m| m.1 >= at) {
            if o >= start && o <= end {
                if let Some((_, col, _)) = table.entry(src, o) {
                    self.columns.push((ex, col));
                }
            }
        }
        self.text.push('\n');
        self.lines.push(SnipLine {
            range: at..self.text.len(),
            number: line + 1,
        });
    }

    /// The snippet's text (for tests).
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// Note where point `o` of the file landed in the snippet.
fn record(points: &mut Vec<usize>, o: usize, ex: usize, map: &mut Vec<(usize, usize)>) {
    while let Some(i) = points.iter().position(|&p| p == o) {
        points.swap_remove(i);
        map.push((o, ex));
    }
}

fn lookup(map: &[(usize, usize)], o: usize) -> usize {
    map.iter()
        .find(|m| m.0 == o)
        .map(|m| m.1)
        .unwrap_or_default()
}

/// The Unicode control picture for a control character (`␀`..`␟`, `␡`),
/// or U+FFFD for the C1 controls.
fn picture(c: char) -> char {
    match c as u32 {
        n @ 0..=0x1f => char::from_u32(0x2400 + n).unwrap_or('\u{fffd}'),
        0x7f => '\u{2421}',
        _ => '\u{fffd}',
    }
}

impl<'a> Files<'a> for Snippet<'_> {
    type FileId = ();
    type Name = &'a str;
    type Source = &'a str;

    fn name(&'a self, (): ()) -> Result<&'a str, Error> {
        Ok(self.name)
    }
    fn source(&'a self, (): ()) -> Result<&'a str, Error> {
        Ok(&self.text)
    }
    fn line_index(&'a self, (): (), byte_index: usize) -> Result<usize, Error> {
        let i = self.lines.partition_point(|l| l.range.end <= byte_index);
        Ok(i.min(self.lines.len().saturating_sub(1)))
    }
    fn line_number(&'a self, (): (), line_index: usize) -> Result<usize, Error> {
        self.lines
            .get(line_index)
            .map(|l| l.number)
            .ok_or(Error::LineTooLarge {
                given: line_index,
                max: self.lines.len().saturating_sub(1),
            })
    }
    fn column_number(
        &'a self,
        (): (),
        line_index: usize,
        byte_index: usize,
    ) -> Result<usize, Error> {
        if let Some(c) = self.columns.iter().find(|c| c.0 == byte_index) {
            return Ok(c.1);
        }
        let range = self.line_range((), line_index)?;
        let upto = byte_index.clamp(range.start, range.end);
        Ok(1 + self
            .text
            .get(range.start..upto)
            .map_or(0, |s| s.chars().count()))
    }
    fn line_range(&'a self, (): (), line_index: usize) -> Result<Range<usize>, Error> {
        self.lines
            .get(line_index)
            .map(|l| l.range.clone())
            .ok_or(Error::LineTooLarge {
                given: line_index,
                max: self.lines.len().saturating_sub(1),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snip(src: &str, spans: &[Span]) -> (String, Vec<Range<usize>>, Vec<usize>) {
        let table = LineTable::for_spans(src, spans);
        let (s, mapped) = Snippet::new("f", src, &table, spans);
        let numbers = s.lines.iter().map(|l| l.number).collect();
        (s.text.clone(), mapped, numbers)
    }

    #[test]
    fn short_lines_are_shown_whole() {
        let src = "a\nhelo x\nb\n";
        let (text, mapped, numbers) = snip(src, &[Span::new(7, 8)]);
        assert_eq!(text, "helo x\n");
        assert_eq!(mapped[0], 5..6);
        assert_eq!(numbers, [2]);
    }

    #[test]
    fn long_lines_are_cut_around_the_label() {
        let src = format!("{}XY{}\n", "a".repeat(1000), "b".repeat(1000));
        let (text, mapped, _) = snip(&src, &[Span::new(1000, 1002)]);
        assert!(text.len() < 2 * WINDOW + 20, "{text}");
        assert_eq!(&text[mapped[0].clone()], "XY");
        assert!(text.starts_with(CUT) && text.ends_with("…\n"));
    }

    #[test]
    fn long_labels_keep_their_ends() {
        let src = format!("h \"{}\"\n", "z".repeat(5000));
        let (text, mapped, _) = snip(&src, &[Span::new(2, src.len() - 1)]);
        let shown = &text[mapped[0].clone()];
        assert!(shown.starts_with("\"zz") && shown.ends_with("zz\"") && shown.contains(CUT));
        assert!(text.len() < 4 * WINDOW + 20);
    }

    #[test]
    fn long_multi_line_labels_keep_first_and_last_lines() {
        let src = format!("h \"{}\"\nx\n", "\n".repeat(100_000));
        let table_spans = [Span::new(2, src.len() - 3)];
        let (text, _, numbers) = snip(&src, &table_spans);
        // Two empty lines stand for the gap (codespan draws `·` there).
        assert_eq!(numbers.len(), 8);
        assert_eq!(numbers[..4], [1, 2, 3, 4]);
        assert_eq!(numbers[6..], [100_000, 100_001]);
        assert!(text.len() < 100);
    }

    #[test]
    fn controls_become_pictures() {
        let src = "helo a\x1b[31mb\r\n";
        let (text, mapped, _) = snip(src, &[Span::new(5, 12)]);
        assert_eq!(text, "helo a␛[31mb\n");
        assert_eq!(&text[mapped[0].clone()], "a␛[31mb");
    }

    #[test]
    fn line_table_counts_lines_and_characters() {
        let src = "ab\ncé d\n";
        let t = LineTable::new(src, [7, 0, 3]);
        assert_eq!(t.line_col(src, 7), (2, 4));
        assert_eq!(t.line_col(src, 0), (1, 1));
        assert_eq!(t.line_col(src, 3), (2, 1));
    }
}
