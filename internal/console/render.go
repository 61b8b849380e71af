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
var pageNames = []string{"overview", "deadletter", "confirm", "error"}

// pages holds one parsed template set per page.
type pages struct{ byName map[string]*template.Template }

// frame is what the layout shows around every page.
type frame struct {
	Title      string
	QueueName  string
	StreamName string
}

var funcs = template.FuncMap{
	// when prints a time for operators: UTC, to the second; the zero time as a dash.
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	// path escapes one path segment, so that a task id with a slash still names one page.
	"path": url.PathEscape,
	"base": func() string { return BasePath },
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
}

// fail renders the error page. message is shown to the operator: it is made of our own errors,
// which never carry a secret.
func (c *Console) fail(w http.ResponseWriter, status int, heading, message string) {
	c.render(w, status, "error", errorView{frame: c.frame(heading), Heading: heading, Message: message})
}

func (c *Console) frame(title string) frame {
	return frame{Title: title, QueueName: c.op.Queue(), StreamName: c.op.ResultsStream()}
}
