package console

import (
	"net/http"
	"strings"
	"testing"
)

// TestAutoRefresh: a refresh interval chosen on one page is kept (in a cookie) for the pages that
// refresh themselves, which reload without their flash; confirmations and errors never reload.
func TestAutoRefresh(t *testing.T) {
	f := newFixture(t, Auth{Addr: "127.0.0.1:9464"})
	en := f.deadLetter("refresh-1")
	resp, err := http.Get(f.url + BasePath + "?refresh=15")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == refreshCookie {
			cookie = c
		}
	}
	if cookie == nil || cookie.Value != "15" || !cookie.HttpOnly || cookie.Path != BasePath {
		t.Fatalf("refresh cookie = %+v", cookie)
	}
	withCookie := http.Header{"Cookie": {cookie.String()}}
	cases := []struct {
		path, want string // want: the meta refresh, "" for none
	}{
		{"", `content="15; url=/console/"`},
		{"dead-letters?class=rejected&flash=0123", `content="15; url=/console/dead-letters?class=rejected"`},
		{"dead-letters?refresh=5", `content="5; url=/console/dead-letters"`},
		{"dead-letters?refresh=0", ""},
		{"tasks/retry", `content="15; url=/console/tasks/retry"`},
		{"orders/" + en.TaskID, `content="15; url=/console/orders/` + en.TaskID + `"`},
		{"dead-letters/" + en.TaskID + "/replay", ""},
		{"bulk/replay?class=rejected", ""},
		{"orders/no-such-order", ""},
	}
	for _, c := range cases {
		status, page := f.get(BasePath+c.path, withCookie)
		meta := strings.Contains(page, `http-equiv="refresh"`)
		if status >= 500 || (c.want == "" && meta) || (c.want != "" && !strings.Contains(page, c.want)) {
			t.Errorf("%s: %d, want meta refresh %q, in\n%s", c.path, status, c.want, page)
		}
	}
	if status, page := f.get(BasePath+"?refresh=7", nil); status != http.StatusBadRequest || !strings.Contains(page, "refresh must be one of 0 (off), 5, 15 or 60 seconds") {
		t.Errorf("?refresh=7 = %d\n%s", status, page)
	}
}
