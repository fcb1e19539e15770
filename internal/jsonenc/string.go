// Package jsonenc appends JSON strings exactly as the standard library
// writes them, for the encoders on signgate's hot paths (responses,
// decision records, the request log) that build JSON without reflection.
// Each caller's tests compare its output with the standard library's.
package jsonenc

import "unicode/utf8"

const hex = "0123456789abcdef"

// AppendString appends s quoted as encoding/json quotes it with HTML
// escaping off (json.Encoder.SetEscapeHTML(false)): '"' and '\' escaped,
// control characters as \b \f \n \r \t or \u00XX, invalid UTF-8 as
// \ufffd, and U+2028 and U+2029 escaped for JavaScript.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	b = appendEscaped(b, s, true)
	return append(b, '"')
}

// AppendSlogEscaped appends s, without quotes, escaped as log/slog's
// JSONHandler escapes it: as AppendString, except that \b and \f are
// written as \u0008 and \u000c.
func AppendSlogEscaped(b []byte, s string) []byte { return appendEscaped(b, s, false) }

func appendEscaped(b []byte, s string, shortBF bool) []byte {
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch {
			case c == '\\' || c == '"':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c == '\b' && shortBF:
				b = append(b, '\\', 'b')
			case c == '\f' && shortBF:
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(b, s[start:]...)
}
