#!/usr/bin/env bash
# promtool.sh: the monitoring recipe in deploy/ (ctest promtool).
#   - deploy/prometheus/vspc-alerts.yml: `promtool check rules`, and the
#     unit tests in vspc-alerts-test.yml (`promtool test rules`: alerts that
#     fire, with their annotations, and alerts that do not);
#   - deploy/grafana/vspc.json: valid JSON (python3 -m json.tool), a
#     datasource template variable and a node (instance) one, every panel on
#     ${datasource}, and every panel expression valid PromQL (promtool check
#     rules on them as recording rules, $variables replaced);
#   - every metric name in a rule or a panel expression is one that
#     proxy/metrics.c renders (its string literals; a histogram's _bucket,
#     _sum and _count), `up` allowed in the rules only.
# Skipped (77) without promtool (Debian: prometheus) or python3.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
command -v promtool >/dev/null || { echo "promtool: SKIP (no promtool; Debian: apt-get install prometheus)"; exit 77; }
command -v python3 >/dev/null || { echo "promtool: SKIP (no python3)"; exit 77; }
rules=$root/deploy/prometheus/vspc-alerts.yml
tests=$root/deploy/prometheus/vspc-alerts-test.yml
dash=$root/deploy/grafana/vspc.json
metrics=$root/proxy/metrics.c
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rc=0
step() { # step NAME COMMAND...: run it, say PASS or FAIL with its output
    local name=$1 out
    shift
    if out=$("$@" 2>&1); then
        echo "promtool: $name: ok"
    else
        echo "promtool: FAIL: $name:"
        echo "$out" | sed 's/^/    /' | head -n 60
        rc=1
    fi
}
step "check rules" promtool check rules "$rules"
step "test rules" promtool test rules "$tests"
step "dashboard JSON" python3 -m json.tool "$dash" /dev/null

# The names, the dashboard's structure, and its expressions as recording
# rules for promtool to parse.
cat >"$tmp/check.py" <<'EOF'
import json, re, sys
metrics_c, rules_file, dash_file, out_rules = sys.argv[1:5]

src = open(metrics_c).read()
lits = re.findall(r'"((?:[^"\\\n]|\\.)*)"', src)
known = set()
for s in lits:
    known.update(re.findall(r'\bvspc_[a-z0-9_]+', s))
# Histograms: a name assigned to `name` where the file prints %s_bucket.
if '%s_bucket' in src:
    for h in re.findall(r'\bname\s*=\s*"(vspc_[a-z0-9_]+)"', src):
        known.update({h + '_bucket', h + '_sum', h + '_count'})
if len(known) < 50:
    sys.exit(f"only {len(known)} metric names found in {metrics_c}: parser broken?")

KEYWORDS = {'and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on',
            'ignoring', 'group_left', 'group_right', 'inf', 'nan', 'atan2'}

def names(expr):
    """Metric names in a PromQL expression (no parser: strings, label
    matchers, ranges, grouping lists and $variables removed, then every
    identifier that is not a function or keyword)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    e = re.sub(r'\$\{\w+\}|\$\w+', '', e)
    e = re.sub(r'\{[^}]*\}', '', e)
    e = re.sub(r'\[[^\]]*\]', '', e)
    e = re.sub(r'\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)', ' ', e)
    found = set()
    for m in re.finditer(r'(?<![\w.])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?', e):
        word, call = m.group(1), m.group(2)
        if call or word.lower() in KEYWORDS:
            continue
        found.add(word)
    return found

bad = []
nexpr = 0
# The rules' expressions: with PyYAML, else from the text (in this file
# every expr is followed by its rule's `for:` or `labels:`).
try:
    import yaml
    doc = yaml.safe_load(open(rules_file))
    exprs = [(r.get('alert') or r.get('record'), r['expr'])
             for g in doc['groups'] for r in g['rules']]
except ImportError:
    text = open(rules_file).read()
    exprs = [('rules', t) for t in re.findall(r'expr:\s*\|?\n?((?:.|\n)*?)\n\s*(?:for|labels):', text)]
for rule, expr in exprs:
    nexpr += 1
    for n in names(expr) - known - {'up'}:
        bad.append(f"{rules_file}: {rule}: {n}")

d = json.load(open(dash_file))
tvars = {v['name']: v for v in d.get('templating', {}).get('list', [])}
if tvars.get('datasource', {}).get('type') != 'datasource' or \
        tvars['datasource'].get('query') != 'prometheus':
    bad.append("dashboard: no `datasource` template variable of type datasource (prometheus)")
if tvars.get('instance', {}).get('type') != 'query':
    bad.append("dashboard: no `instance` (node) query template variable")

def walk(panels):
    for p in panels:
        yield p
        yield from walk(p.get('panels', []))

recs = []
ids = set()
for p in walk(d.get('panels', [])):
    if p.get('id') in ids:
        bad.append(f"dashboard: panel id {p.get('id')} twice")
    ids.add(p.get('id'))
    if p.get('type') == 'row':
        continue
    if p.get('datasource', {}).get('uid') != '${datasource}':
        bad.append(f"dashboard: panel {p.get('title')!r} not on ${{datasource}}")
    if not p.get('targets'):
        bad.append(f"dashboard: panel {p.get('title')!r} has no query")
    for t in p.get('targets', []):
        expr = t.get('expr', '')
        nexpr += 1
        for n in names(expr) - known:
            bad.append(f"dashboard: panel {p.get('title')!r}: {n}")
        e = expr.replace('$__rate_interval', '5m').replace('$instance', '.*')
        if '$' in e:
            bad.append(f"dashboard: panel {p.get('title')!r}: unknown variable in {expr}")
        recs.append({'record': f'vspc_dashboard:panel{p["id"]}_{t["refId"]}', 'expr': e})
with open(out_rules, 'w') as f:
    json.dump({'groups': [{'name': 'dashboard', 'rules': recs}]}, f, indent=1)
for b in bad:
    print("unknown or wrong:", b)
print(f"{nexpr} expressions, {len(known)} metric names in metrics.c")
sys.exit(1 if bad else 0)
EOF
step "metric names and dashboard structure" \
    python3 "$tmp/check.py" "$metrics" "$rules" "$dash" "$tmp/dashboard-rules.json"
if [ -s "$tmp/dashboard-rules.json" ]; then
    # promtool reads YAML, and JSON is YAML.
    cp "$tmp/dashboard-rules.json" "$tmp/dashboard-rules.yml"
    step "dashboard expressions parse" promtool check rules "$tmp/dashboard-rules.yml"
fi
[ $rc = 0 ] && echo "promtool: PASS"
exit $rc
