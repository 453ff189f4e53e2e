package migrate

import (
	"slices"
	"strings"
)

// hidden stands in a note for a secret of the input.
const hidden = "<hidden>"

// secretHeaders are the HTTP headers whose values are credentials.
var secretHeaders = []string{"authorization", "proxy-authorization", "cookie", "x-api-key"}

// maskSecrets returns the words of an HAProxy line with the credentials
// they hold replaced by hidden, so that a note (which operators paste
// into tickets) does not carry them: the value of an Authorization-like
// header (http-check send hdr NAME VALUE, http-request set-header, and
// the headers HAProxy 1.x configs append to option httpchk's version,
// "HTTP/1.0\r\nAuthorization:\ Basic\ ..."), stats auth's password and a
// userlist's passwords. It returns words itself when there is none.
func maskSecrets(words []string) []string {
	var out []string
	set := func(i int, w string) {
		if out == nil {
			out = append([]string(nil), words...)
		}
		out[i] = w
	}
	for i := 0; i < len(words); i++ {
		w := words[i]
		switch {
		case isSecretHeader(w) && i+1 < len(words):
			// hdr NAME VALUE...: the rest of the line is the value
			// (and its conditions, which go too).
			for j := i + 1; j < len(words); j++ {
				set(j, hidden)
			}
			i = len(words)
		case (w == "password" || w == "insecure-password") && i+1 < len(words):
			set(i+1, hidden)
			i++
		case w == "auth" && i > 0 && words[i-1] == "stats" && i+1 < len(words):
			if user, _, ok := strings.Cut(words[i+1], ":"); ok {
				set(i+1, user+":"+hidden)
			}
			i++
		default:
			if m := maskEmbeddedHeaders(w); m != w {
				set(i, m)
			}
		}
	}
	if out == nil {
		return words
	}
	return out
}

// isSecretHeader reports whether w names a header of secretHeaders.
func isSecretHeader(w string) bool {
	return slices.Contains(secretHeaders, strings.TrimSuffix(strings.ToLower(w), ":"))
}

// maskEmbeddedHeaders hides the rest of a word from the first secret
// header in it ("NAME:"), where HAProxy 1.x configs append header lines to
// option httpchk's version: "HTTP/1.0\r\nAuthorization:\ Basic\ ...",
// one word once its escapes are read.
func maskEmbeddedHeaders(w string) string {
	lower := strings.ToLower(w)
	at := -1
	for _, h := range secretHeaders {
		if i := strings.Index(lower, h+":"); i >= 0 && (at < 0 || i < at) {
			at = i + len(h) + 1
		}
	}
	if at < 0 || at == len(w) {
		return w
	}
	return w[:at] + " " + hidden
}
