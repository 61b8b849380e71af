package strictjson

import (
	"strconv"
	"unicode/utf8"
)

// rootPath is the path of an error about the whole document when no prefix names it.
const rootPath = "(root)"

// pathOrRoot names the document itself in an error: the prefix, or (root) when there is none.
func pathOrRoot(prefix string) string {
	if prefix == "" {
		return rootPath
	}
	return prefix
}

// FieldPath appends an object key to path, as request.extend_param.period_num. A key that is
// not a plain name (a dot, a space, a quote, or very long) is written as ["…"] so that the path
// stays readable and unambiguous whatever a document contains.
func FieldPath(path, key string) string {
	if !plainKey(key) {
		return path + "[" + Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// IndexPath appends an array index to path, as request.ports[1].
func IndexPath(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// maxPlainKey is the longest key written as .key; longer ones are quoted and shortened.
const maxPlainKey = 64

func plainKey(key string) bool {
	if key == "" || len(key) > maxPlainKey {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// maxShown is how many bytes of a user's value an error message repeats. A message must state
// the value, but a megabyte-long string or number must not become a megabyte-long log line.
const maxShown = 64

// shorten cuts s to at most maxShown bytes, on a rune boundary, marking the cut with "…".
func shorten(s string) string {
	if len(s) <= maxShown {
		return s
	}
	cut := maxShown
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// Quote writes a user's string value for a message: shortened, in Go quotes, with control and
// invalid bytes escaped so that a message is always one printable line.
func Quote(s string) string {
	return strconv.Quote(shorten(s))
}
