package console

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"time"
)

// The pages and the stylesheet are compiled into the binary: the console has no files to deploy
// and no asset build.
var (
	//go:embed templates/*.html
	templateFS embed.FS
	//go:embed static
	staticFS embed.FS
)

// pageNames are the pages; each is templates/NAME.html defining "content", inside layout.html.
var pageNames = []string{"overview", "deadletters", "order", "confirm", "bulk", "delayed", "batches", "error"}

// pages holds one parsed template set per page.
type pages struct{ byName map[string]*template.Template }

var funcs = template.FuncMap{
	// when prints a time for operators: UTC, to the second; the zero time as a dash.
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	// iso is a time as a <time datetime> wants it.
	"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	// ago is a time relative to now, as people say it: "3m 12s ago", "in 45s".
	"ago": func(t time.Time) string { return relative(time.Now(), t) },
	// dur is a duration as people say it: "3m 12s".
	"dur": humanDuration,
	// seconds is a number of seconds as a duration.
	"seconds": func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) },
	// path escapes one path segment, so that a task id with a slash still names one page.
	"path": url.PathEscape,
	"base": func() string { return BasePath },
}

// humanDuration is d rounded to its two largest units: "45s", "3m 12s", "2h 5m", "3d 4h".
func humanDuration(d time.Duration) string {
	d = d.Abs().Round(time.Second)
	s := int64(d / time.Second)
	two := func(a int64, ua string, b int64, ub string) string {
		if b == 0 {
			return fmt.Sprintf("%d%s", a, ua)
		}
		return fmt.Sprintf("%d%s %d%s", a, ua, b, ub)
	}
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return two(s/60, "m", s%60, "s")
	case s < 86400:
		return two(s/3600, "h", s%3600/60, "m")
	default:
		return two(s/86400, "d", s%86400/3600, "h")
	}
}

// relative is t as seen from now: "3m 12s ago", "in 45s", or "now" within a second.
func relative(now, t time.Time) string {
	d := t.Sub(now)
	switch {
	case d.Abs() < time.Second:
		return "now"
	case d > 0:
		return "in " + humanDuration(d)
	default:
		return humanDuration(d) + " ago"
	}
}

func parsePages() (*pages, error) {
	p := &pages{byName: map[string]*template.Template{}}
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", name, err)
		}
		p.byName[name] = t
	}
	return p, nil
}

// render writes page with data and status. The page is rendered into a buffer first, so that a
// template error is a clean 500 instead of half a page.
func (c *Console) render(w http.ResponseWriter, status int, page string, data any) {
	var buf bytes.Buffer
	if err := c.pages.byName[page].Execute(&buf, data); err != nil {
		http.Error(w, "console: rendering "+page+" failed: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// errorView is the error page.
type errorView struct {
	frame
	Heading string
	Message string
	// Link, when set, is a page that says more (LinkText).
	Link, LinkText string
}

// fail renders the error page. message is shown to the operator: it is made of our own errors,
// which never carry a secret.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, status int, heading, message string) {
	c.render(w, status, "error", errorView{frame: c.frame(r, heading), Heading: heading, Message: message})
}
