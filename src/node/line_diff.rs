//! A unified line diff (`diff -u` format, 3 lines of context) for
//! `install --dry-run` / `uninstall --dry-run`. The common head and tail are
//! cut off first; the middle, which for a config edit is a few lines, gets a
//! longest-common-subsequence table. A middle too large for that table is
//! shown as removed and added whole (still a correct diff).

const CONTEXT: usize = 3;
/// Cells of the LCS table at most (about 16 MiB of u32).
const MAX_CELLS: usize = 4 << 20;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Same,
    Del,
    Add,
}

/// The diff of `old` and `new`, empty when they are equal.
pub fn unified(old: &str, new: &str, old_name: &str, new_name: &str) -> String {
    if old == new {
        return String::new();
    }
    let a: Vec<&str> = old.split_inclusive('\n').collect();
    let b: Vec<&str> = new.split_inclusive('\n').collect();
    let ops = script(&a, &b);
    let mut out = format!("--- {old_name}\n+++ {new_name}\n");
    // Walk the script, emitting hunks of changes with their context.
    let changed: Vec<usize> = (0..ops.len()).filter(|&i| ops[i] != Op::Same).collect();
    let mut k = 0;
    while k < changed.len() {
        let start = changed[k].saturating_sub(CONTEXT);
        let mut end = changed[k];
        while k < changed.len() && changed[k] <= end + 2 * CONTEXT {
            end = changed[k];
            k += 1;
        }
        let end = (end + CONTEXT + 1).min(ops.len());
        // Line numbers at `start`.
        let (mut ai, mut bi) = (0, 0);
        for op in &ops[..start] {
            match op {
                Op::Same => (ai, bi) = (ai + 1, bi + 1),
                Op::Del => ai += 1,
                Op::Add => bi += 1,
            }
        }
        let mut body = String::new();
        let (mut an, mut bn) = (0, 0);
        for op in &ops[start..end] {
            let (prefix, line) = match op {
                Op::Same => {
                    an += 1;
                    bn += 1;
                    (' ', a[ai + an - 1])
                }
                Op::Del => {
                    an += 1;
                    ('-', a[ai + an - 1])
                }
                Op::Add => {
                    bn += 1;
                    ('+', b[bi + bn - 1])
                }
            };
            body.push(prefix);
            body.push_str(line);
            if !line.ends_with('\n') {
                body.push_str("\n\\ No newline at end of file\n");
            }
        }
        let range = |first: usize, n: usize| {
            if n == 0 {
                format!("{first},0")
            } else {
                format!("{},{n}", first + 1)
            }
        };
        out.push_str(&format!("@@ -{} +{} @@\n", range(ai, an), range(bi, bn)));
        out.push_str(&body);
    }
    out
}

/// The edit script turning `a` into `b`.
fn script(a: &[&str], b: &[&str]) -> Vec<Op> {
    let head = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let tail = a[head..]
        .iter()
        .rev()
        .zip(b[head..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (ma, mb) = (&a[head..a.len() - tail], &b[head..b.len() - tail]);
    let mut ops = vec![Op::Same; head];
    if (ma.len() + 1) * (mb.len() + 1) > MAX_CELLS {
        ops.extend(std::iter::repeat_n(Op::Del, ma.len()));
        ops.extend(std::iter::repeat_n(Op::Add, mb.len()));
    } else {
        // lcs[i][j]: LCS length of ma[i..] and mb[j..].
        let w = mb.len() + 1;
        let mut lcs = vec![0u32; (ma.len() + 1) * w];
        for i in (0..ma.len()).rev() {
            for j in (0..mb.len()).rev() {
                lcs[i * w + j] = if ma[i] == mb[j] {
                    lcs[(i + 1) * w + j + 1] + 1
                } else {
                    lcs[(i + 1) * w + j].max(lcs[i * w + j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < ma.len() || j < mb.len() {
            if i < ma.len() && j < mb.len() && ma[i] == mb[j] {
                ops.push(Op::Same);
                i += 1;
                j += 1;
            } else if i < ma.len() && (j == mb.len() || lcs[(i + 1) * w + j] >= lcs[i * w + j + 1])
            {
                // Deletions before insertions, as diff -u prints them.
                ops.push(Op::Del);
                i += 1;
            } else {
                ops.push(Op::Add);
                j += 1;
            }
        }
    }
    ops.extend(std::iter::repeat_n(Op::Same, tail));
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_have_no_diff() {
        assert_eq!(unified("a\nb\n", "a\nb\n", "x", "y"), "");
    }

    #[test]
    fn an_insertion_gets_one_hunk_with_context() {
        let old = "1\n2\n3\n4\n5\n6\n7\n8\n";
        let new = "1\n2\n3\n4\nnew\n5\n6\n7\n8\n";
        assert_eq!(
            unified(old, new, "a/c", "b/c"),
            "--- a/c\n+++ b/c\n@@ -2,6 +2,7 @@\n 2\n 3\n 4\n+new\n 5\n 6\n 7\n"
        );
    }

    #[test]
    fn distant_changes_get_separate_hunks_and_a_replace_shows_both_sides() {
        let mut lines: Vec<String> = (1..=20).map(|i| format!("{i}\n")).collect();
        let old = lines.concat();
        lines[1] = "two\n".into();
        lines.remove(18);
        let new = lines.concat();
        let d = unified(&old, &new, "o", "n");
        assert_eq!(d.matches("@@ -").count(), 2, "{d}");
        assert!(d.contains("@@ -1,5 +1,5 @@\n 1\n-2\n+two\n 3\n"), "{d}");
        assert!(
            d.contains("@@ -16,5 +16,4 @@\n 16\n 17\n 18\n-19\n 20\n"),
            "{d}"
        );
    }

    #[test]
    fn a_new_file_and_a_missing_final_newline() {
        assert_eq!(
            unified("", "a\nb\n", "o", "n"),
            "--- o\n+++ n\n@@ -0,0 +1,2 @@\n+a\n+b\n"
        );
        assert_eq!(
            unified("a", "a\n", "o", "n"),
            "--- o\n+++ n\n@@ -1,1 +1,1 @@\n-a\n\\ No newline at end of file\n+a\n"
        );
    }
}
