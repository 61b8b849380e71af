package deployments

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	promlabels "github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// Where the monitoring files are, relative to this directory.
const (
	alertRulesFile    = "prometheus/alerts.yaml"
	alertTestsFile    = "prometheus/alerts_test.yaml"
	dashboardFile     = "grafana/cph-purchase.json"
	monitoringKubeDir = "k8s/monitoring"
)

// TestAlertRulesWithPromtool checks the alert rules with Prometheus's own promtool and runs their
// unit tests (alerts_test.yaml). Without promtool it skips, except under CI=true, where .ci/run
// has installed Debian's prometheus package.
func TestAlertRulesWithPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "true" {
			t.Skip("SKIP: no promtool, so the alert rules are not checked by Prometheus; install Debian's prometheus package (apt-get install -y prometheus) to run it. CI installs it, and with CI=true this test fails instead.")
		}
		t.Fatal("CI=true, but there is no promtool: .ci/run should have installed Debian's prometheus package")
	}
	for _, args := range [][]string{
		{"check", "rules", filepath.Base(alertRulesFile)},
		{"test", "rules", filepath.Base(alertTestsFile)},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = filepath.Dir(alertRulesFile)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestMonitoringQueriesNameExportedMetrics: every metric that the dashboard's queries and the alert
// rules name is one that a real worker exports on /metrics (exportedSeries), so that a renamed
// metric or a typo fails here instead of drawing an empty panel or never firing.
func TestMonitoringQueriesNameExportedMetrics(t *testing.T) {
	queries := map[string]string{} // where → PromQL
	for i, r := range loadAlertRules(t) {
		queries[fmt.Sprintf("%s: rule %d (%s)", alertRulesFile, i, r.Alert)] = r.Expr
	}
	for where, q := range loadDashboard(t).queries() {
		queries[dashboardFile+": "+where] = q
	}
	if len(queries) < 10 {
		t.Fatalf("found %d queries; the files were not read as expected", len(queries))
	}
	exported := exportedSeries(t)
	for where, q := range queries {
		names, err := metricNames(q)
		if err != nil {
			t.Errorf("%s: %v", where, err)
			continue
		}
		for _, n := range names {
			if !exported[n] {
				t.Errorf("%s names %s, which the worker does not export", where, n)
			}
		}
	}
}

// TestMetricNamesSeesEverySelector: metricNames finds the metric of every selector, not only the
// first, so that the test above can fail.
func TestMetricNamesSeesEverySelector(t *testing.T) {
	for q, want := range map[string][]string{
		`sum(rate(a_sum[5m])) / sum(rate(b_count{job=~"$job"}[$__rate_interval]))`: {"a_sum", "b_count"},
		`absent(c) or max by (queue) ({__name__="d", queue="q"}) > 0`:              {"c", "d"},
		`histogram_quantile(0.99, sum by (le) (rate(e_bucket[5m])))`:               {"e_bucket"},
		`label_values(f{job=~"$job"}, queue)`:                                      {"f"},
		`label_values(job)`:                                                        nil,
	} {
		got, err := metricNames(q)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("metricNames(%q) = %q, %v; want %q", q, got, err, want)
		}
	}
	if _, err := metricNames(`sum(rate(x[5m])`); err == nil {
		t.Error("metricNames accepted a query that does not parse")
	}
}

// alertRule is the part of a Prometheus rule that the tests read.
type alertRule struct {
	Alert string `json:"alert"`
	Expr  string `json:"expr"`
}

func loadAlertRules(t *testing.T) []alertRule {
	t.Helper()
	b, err := os.ReadFile(alertRulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []alertRule `json:"rules"`
		} `json:"groups"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", alertRulesFile, err)
	}
	var rules []alertRule
	for _, g := range f.Groups {
		rules = append(rules, g.Rules...)
	}
	return rules
}

// dashboard is the part of a Grafana dashboard that the tests read.
type dashboard struct {
	UID        string           `json:"uid"`
	Panels     []dashboardPanel `json:"panels"`
	Templating struct {
		List []dashboardVariable `json:"list"`
	} `json:"templating"`
}

type dashboardVariable struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Query any    `json:"query"` // a string, or {"query": "..."} in newer dashboards
}

type dashboardPanel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []dashboardPanel `json:"panels"` // a collapsed row's
}

func loadDashboard(t *testing.T) *dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return &d
}

// allPanels is every panel, those of collapsed rows included.
func (d *dashboard) allPanels() []dashboardPanel {
	var all []dashboardPanel
	var walk func([]dashboardPanel)
	walk = func(ps []dashboardPanel) {
		for _, p := range ps {
			all = append(all, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return all
}

// queries returns every PromQL query of the dashboard, its panels' and its variables', by where
// it is.
func (d *dashboard) queries() map[string]string {
	q := map[string]string{}
	for _, p := range d.allPanels() {
		for _, tg := range p.Targets {
			q[fmt.Sprintf("panel %d %q target %s", p.ID, p.Title, tg.RefID)] = tg.Expr
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		switch query := v.Query.(type) {
		case string:
			q["variable "+v.Name] = query
		case map[string]any:
			q["variable "+v.Name], _ = query["query"].(string)
		}
	}
	return q
}

// TestDashboard: the dashboard has a stable uid, unique panel ids, and every panel with queries
// reads the data source the importer chooses (${datasource}), not one of the author's.
func TestDashboard(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" {
		t.Error("the dashboard has no uid: every import would make a new copy")
	}
	ids := map[int]string{}
	for _, p := range d.allPanels() {
		if other, dup := ids[p.ID]; dup {
			t.Errorf("panels %q and %q share the id %d", other, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
		if len(p.Targets) > 0 && (p.Datasource == nil || p.Datasource.UID != "${datasource}") {
			t.Errorf("panel %q does not read the ${datasource} variable", p.Title)
		}
		for _, tg := range p.Targets {
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("panel %q target %s has no query", p.Title, tg.RefID)
			}
		}
	}
	if !slices.ContainsFunc(d.Templating.List, func(v dashboardVariable) bool { return v.Name == "datasource" && v.Type == "datasource" }) {
		t.Error("the dashboard has no datasource variable")
	}
}

// grafanaRange matches Grafana's range variables, which PromQL cannot parse until Grafana has
// replaced them; a variable inside a label matcher's string is valid PromQL as it is.
var grafanaRange = regexp.MustCompile(`\$__(rate_interval|interval|range)\b|\$\{__(rate_interval|interval|range)\}`)

// labelValues matches Grafana's label_values(SELECTOR, LABEL) variable query.
var labelValues = regexp.MustCompile(`^\s*label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$`)

// metricNames parses a query with Prometheus's own PromQL parser and returns the metric name of
// each of its selectors, in order. A Grafana label_values() query yields its selector's.
func metricNames(query string) ([]string, error) {
	if m := labelValues.FindStringSubmatch(query); m != nil {
		query = m[1]
	} else if strings.HasPrefix(strings.TrimSpace(query), "label_values(") {
		return nil, nil // label_values(LABEL): no metric
	}
	expr, err := parser.NewParser(parser.Options{}).ParseExpr(grafanaRange.ReplaceAllString(query, "5m"))
	if err != nil {
		return nil, fmt.Errorf("does not parse: %w", err)
	}
	var names []string
	var selErr error
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		if name == "" {
			for _, m := range vs.LabelMatchers {
				if m.Name == model.MetricNameLabel && m.Type == promlabels.MatchEqual {
					name = m.Value
				}
			}
		}
		if name == "" {
			selErr = fmt.Errorf("selector %s names no metric", vs)
			return nil
		}
		names = append(names, name)
		return nil
	})
	return names, selErr
}

// serviceMonitor is the part of the Prometheus Operator's ServiceMonitor that k8s/monitoring
// uses, decoded strictly: a field the checks do not know fails until they account for it.
type serviceMonitor struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ObjectMeta `json:"metadata"`
	Spec            struct {
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []struct {
			Port     string `json:"port"`
			Path     string `json:"path"`
			Interval string `json:"interval"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// monitoring is what `kubectl apply -k k8s/monitoring` sends.
type monitoring struct {
	kustomization   kustomization
	serviceMonitors []*serviceMonitor
}

func loadMonitoring(t *testing.T) *monitoring {
	t.Helper()
	mon := &monitoring{}
	b, err := os.ReadFile(filepath.Join(monitoringKubeDir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, &mon.kustomization); err != nil {
		t.Fatalf("%s/kustomization.yaml: %v", monitoringKubeDir, err)
	}
	for _, res := range mon.kustomization.Resources {
		b, err := os.ReadFile(filepath.Join(monitoringKubeDir, res))
		if err != nil {
			t.Fatal(err)
		}
		var sm serviceMonitor
		if err := yaml.UnmarshalStrict(b, &sm); err != nil {
			t.Fatalf("%s/%s: %v", monitoringKubeDir, res, err)
		}
		mon.serviceMonitors = append(mon.serviceMonitors, &sm)
	}
	return mon
}

// checkScraping returns every way Prometheus would miss the workers: the pod template's
// prometheus.io annotations must name the worker's HTTP port and /metrics, and each ServiceMonitor
// must live in the workers' namespace, select their metrics Service and name one of its ports.
func checkScraping(m *manifests, mon *monitoring) problems {
	var p problems
	d := workerDeployment(m)
	if d == nil {
		p.addf("no Deployment %s", workerDeploymentName)
		return p
	}
	ann := d.Spec.Template.Annotations
	port, ok := containerPortByName(d, "http")
	switch {
	case !ok:
		p.addf("Deployment %s: no container port named http", d.Name)
	case ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/path"] != "/metrics" || ann["prometheus.io/port"] != strconv.Itoa(int(port)):
		p.addf("Deployment %s: the pod annotations prometheus.io/scrape, /path and /port must be \"true\", /metrics and %d, got %q, %q and %q",
			d.Name, port, ann["prometheus.io/scrape"], ann["prometheus.io/path"], ann["prometheus.io/port"])
	}
	if len(mon.serviceMonitors) == 0 {
		p.addf("%s has no ServiceMonitor", monitoringKubeDir)
	}
	for _, sm := range mon.serviceMonitors {
		if sm.APIVersion != "monitoring.coreos.com/v1" || sm.Kind != "ServiceMonitor" {
			p.addf("ServiceMonitor %s: apiVersion %q kind %q", sm.Metadata.Name, sm.APIVersion, sm.Kind)
		}
		if sm.Metadata.Namespace != d.Namespace || mon.kustomization.Namespace != d.Namespace {
			p.addf("ServiceMonitor %s: namespace %q (kustomization %q), not the workers' %q", sm.Metadata.Name, sm.Metadata.Namespace, mon.kustomization.Namespace, d.Namespace)
		}
		sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
		if err != nil || sel.Empty() {
			p.addf("ServiceMonitor %s: an empty or broken selector: %v", sm.Metadata.Name, err)
			continue
		}
		selected := 0
		for _, s := range m.services {
			if !sel.Matches(labels.Set(s.Labels)) {
				continue
			}
			selected++
			if !labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
				p.addf("ServiceMonitor %s selects Service %s, which does not select the worker pods", sm.Metadata.Name, s.Name)
			}
			for _, ep := range sm.Spec.Endpoints {
				if !slices.ContainsFunc(s.Spec.Ports, func(sp corev1.ServicePort) bool { return sp.Name == ep.Port }) {
					p.addf("ServiceMonitor %s: endpoint port %q is not a port of Service %s", sm.Metadata.Name, ep.Port, s.Name)
				}
				if ep.Path != "/metrics" {
					p.addf("ServiceMonitor %s: endpoint path %q, want /metrics", sm.Metadata.Name, ep.Path)
				}
			}
		}
		if selected == 0 {
			p.addf("ServiceMonitor %s selects no Service of the manifests", sm.Metadata.Name)
		}
	}
	return p
}

// workerDeploymentName is the workers' Deployment, among the manifests' others.
const workerDeploymentName = "cph-purchase-worker"

func workerDeployment(m *manifests) *appsv1.Deployment {
	i := slices.IndexFunc(m.deployments, func(d *appsv1.Deployment) bool { return d.Name == workerDeploymentName })
	if i < 0 {
		return nil
	}
	return m.deployments[i]
}

func containerPortByName(d *appsv1.Deployment, name string) (int32, bool) {
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, cp := range c.Ports {
			if cp.Name == name {
				return cp.ContainerPort, true
			}
		}
	}
	return 0, false
}

// TestScraping: the real manifests let Prometheus find the workers both ways, and each broken
// invariant is caught.
func TestScraping(t *testing.T) {
	for _, p := range checkScraping(loadManifests(t), loadMonitoring(t)) {
		t.Error(p)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*manifests, *monitoring)
		want   string
	}{
		{"annotation on another port", func(m *manifests, _ *monitoring) {
			workerDeployment(m).Spec.Template.Annotations["prometheus.io/port"] = "8080"
		}, "pod annotations"},
		{"scraping not asked for", func(m *manifests, _ *monitoring) {
			delete(workerDeployment(m).Spec.Template.Annotations, "prometheus.io/scrape")
		}, "pod annotations"},
		{"ServiceMonitor selects nothing", func(_ *manifests, mon *monitoring) {
			mon.serviceMonitors[0].Spec.Selector.MatchLabels["app.kubernetes.io/component"] = "console"
		}, "selects no Service"},
		{"ServiceMonitor on a port the Service lacks", func(_ *manifests, mon *monitoring) {
			mon.serviceMonitors[0].Spec.Endpoints[0].Port = "http"
		}, "is not a port of Service"},
		{"ServiceMonitor in another namespace", func(_ *manifests, mon *monitoring) {
			mon.serviceMonitors[0].Metadata.Namespace = "monitoring"
		}, "not the workers'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, mon := loadManifests(t), loadMonitoring(t)
			tc.mutate(m, mon)
			got := checkScraping(m, mon)
			if !slices.ContainsFunc(got, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("no problem mentions %q; got %q", tc.want, got)
			}
		})
	}
}
