//! A small C tokenizer over bytes. It never fails: unknown bytes become `Punct` tokens.
//! Used for the lexical passes (directive scan, rewrites, macro bodies, body hashes).

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tok {
    Ident,
    Number,
    Str,
    Char,
    Punct,
    /// A whole preprocessor directive line (with continuations), only when
    /// [`Lexer::directives`] is on.
    Directive,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    pub kind: Tok,
    pub start: usize,
    pub end: usize,
}

pub struct Lexer<'a> {
    s: &'a [u8],
    i: usize,
    /// At the start of a line (only whitespace since the newline).
    bol: bool,
    directives: bool,
}

pub fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b'$'
}

pub fn is_ident_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$'
}

impl<'a> Lexer<'a> {
    pub fn new(s: &'a [u8]) -> Self {
        Lexer { s, i: 0, bol: true, directives: true }
    }

    /// Treat `#...` lines as ordinary punctuation and identifiers (for macro bodies).
    pub fn without_directives(mut self) -> Self {
        self.directives = false;
        self
    }

    fn skip_ws_and_comments(&mut self) {
        let s = self.s;
        while self.i < s.len() {
            let b = s[self.i];
            if b == b'\n' {
                self.bol = true;
                self.i += 1;
            } else if b == b' ' || b == b'\t' || b == b'\r' || b == 0x0c || b == 0x0b {
                self.i += 1;
            } else if b == b'\\' && self.i + 1 < s.len() && (s[self.i + 1] == b'\n' || s[self.i + 1] == b'\r') {
                self.i += 2;
            } else if b == b'/' && self.i + 1 < s.len() && s[self.i + 1] == b'*' {
                self.i = match find(s, self.i + 2, b"*/") {
                    Some(e) => e + 2,
                    None => s.len(),
                };
            } else if b == b'/' && self.i + 1 < s.len() && s[self.i + 1] == b'/' {
                while self.i < s.len() && s[self.i] != b'\n' {
                    self.i += 1;
                }
            } else {
                break;
            }
        }
    }
}

/// Position of `pat` in `s` at or after `from`.
pub fn find(s: &[u8], from: usize, pat: &[u8]) -> Option<usize> {
    if from >= s.len() {
        return None;
    }
    s[from..].windows(pat.len()).position(|w| w == pat).map(|p| p + from)
}

/// End of the logical line starting at `i` (index of the terminating `\n` or `len`),
/// following backslash continuations and skipping over block comments.
pub fn logical_line_end(s: &[u8], mut i: usize) -> usize {
    while i < s.len() {
        match s[i] {
            b'\n' => {
                if i > 0 && s[i - 1] == b'\\' || (i > 1 && s[i - 1] == b'\r' && s[i - 2] == b'\\') {
                    i += 1;
                    continue;
                }
                return i;
            }
            b'/' if i + 1 < s.len() && s[i + 1] == b'*' => {
                i = match find(s, i + 2, b"*/") {
                    Some(e) => e + 2,
                    None => s.len(),
                };
            }
            b'/' if i + 1 < s.len() && s[i + 1] == b'/' => {
                while i < s.len() && s[i] != b'\n' {
                    i += 1;
                }
                return i;
            }
            _ => i += 1,
        }
    }
    s.len()
}

impl Iterator for Lexer<'_> {
    type Item = Token;
    fn next(&mut self) -> Option<Token> {
        self.skip_ws_and_comments();
        let s = self.s;
        if self.i >= s.len() {
            return None;
        }
        let start = self.i;
        let b = s[start];
        let bol = self.bol;
        self.bol = false;
        let kind = if b == b'#' && bol && self.directives {
            self.i = logical_line_end(s, start);
            Tok::Directive
        } else if is_ident_start(b) {
            let mut j = start + 1;
            while j < s.len() && is_ident_char(s[j]) {
                j += 1;
            }
            // String/char prefixes: L"..", u8"..".
            if j < s.len() && (s[j] == b'"' || s[j] == b'\'') && matches!(&s[start..j], b"L" | b"u" | b"U" | b"u8") {
                self.i = j;
                return self.next().map(|t| Token { start, ..t });
            }
            self.i = j;
            Tok::Ident
        } else if b.is_ascii_digit() || (b == b'.' && start + 1 < s.len() && s[start + 1].is_ascii_digit()) {
            let mut j = start + 1;
            while j < s.len() {
                let c = s[j];
                if is_ident_char(c) || c == b'.' {
                    j += 1;
                } else if (c == b'+' || c == b'-') && matches!(s[j - 1], b'e' | b'E' | b'p' | b'P') {
                    j += 1;
                } else {
                    break;
                }
            }
            self.i = j;
            Tok::Number
        } else if b == b'"' || b == b'\'' {
            let mut j = start + 1;
            while j < s.len() && s[j] != b {
                if s[j] == b'\\' {
                    j += 1;
                } else if s[j] == b'\n' {
                    break;
                }
                j += 1;
            }
            self.i = (j + 1).min(s.len());
            if b == b'"' {
                Tok::Str
            } else {
                Tok::Char
            }
        } else {
            // Multi-byte punctuators that matter to us.
            let two = if start + 1 < s.len() { &s[start..start + 2] } else { &s[start..start + 1] };
            self.i = start
                + match two {
                    b"->" | b"++" | b"--" | b"<<" | b">>" | b"<=" | b">=" | b"==" | b"!=" | b"&&" | b"||" | b"+="
                    | b"-=" | b"*=" | b"/=" | b"%=" | b"&=" | b"|=" | b"^=" | b"##" => {
                        if (two == b"<<" || two == b">>") && start + 2 < s.len() && s[start + 2] == b'=' {
                            3
                        } else {
                            2
                        }
                    }
                    _ => {
                        // Keep UTF-8 sequences whole.
                        let mut n = 1;
                        while b >= 0x80 && start + n < s.len() && (s[start + n] & 0xC0) == 0x80 {
                            n += 1;
                        }
                        n
                    }
                };
            Tok::Punct
        };
        Some(Token { kind, start, end: self.i })
    }
}

/// A hash of the token stream of `s` (whitespace and comments do not count), FNV-1a.
pub fn token_hash(s: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for t in Lexer::new(s).without_directives() {
        for &b in &s[t.start..t.end] {
            h ^= b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<&str> {
        Lexer::new(s.as_bytes()).map(|t| &s[t.start..t.end]).collect()
    }

    #[test]
    fn tokens_skip_comments_and_keep_directives_whole() {
        assert_eq!(
            toks("#define A(x) \\\n  f(x)\nint a = b->c; /* x */ // y\n\"s\\\"\" 'c' 1.5e+3 x<<=2"),
            vec![
                "#define A(x) \\\n  f(x)",
                "int",
                "a",
                "=",
                "b",
                "->",
                "c",
                ";",
                "\"s\\\"\"",
                "'c'",
                "1.5e+3",
                "x",
                "<<=",
                "2"
            ]
        );
    }

    #[test]
    fn hash_ignores_whitespace_and_comments() {
        assert_eq!(token_hash(b"a = b;  /* c */"), token_hash(b"a=b;"));
        assert_ne!(token_hash(b"a = b;"), token_hash(b"a = c;"));
    }

    #[test]
    fn never_panics_on_truncated_input() {
        for s in ["\"abc", "'", "/* open", "#define X \\", "\\", "1e+", "\u{e9}"] {
            let _ = toks(s);
            let _ = token_hash(s.as_bytes());
        }
    }
}
