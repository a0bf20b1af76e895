#!/bin/sh
# render-manual.sh MARKDOWN INPUT.md TEMPLATE.html VERSION OUTPUT.html [TASKS_DIR]
#
# Renders the operator manual with discount's markdown(1) and puts it into
# the page template: the template's line @TOC@ becomes the table of contents
# (sections and subsections), the line @BODY@ the manual, and @VERSION@ the
# package version. A line @TASK_STATUS@ of the manual becomes a table of the
# task types built from TASKS_DIR/*.c: which hooks each type has, hence
# whether this build runs it. The output is written to a temporary file
# first, so a failed run leaves no half-written page behind.
set -eu
if [ $# -lt 5 ] || [ $# -gt 6 ]; then
	echo "usage: $0 MARKDOWN INPUT.md TEMPLATE.html VERSION OUTPUT.html [TASKS_DIR]" >&2
	exit 2
fi
md=$1 in=$2 tpl=$3 version=$4 out=$5 tasks=${6:-}
tmp=$out.tmp.$$
trap 'rm -f "$tmp" "$tmp.md" "$tmp.status" "$tmp.all" "$tmp.toc" "$tmp.body"' EXIT

# One table row per task type file: "| id | name | hooks | status |".
task_rows() {
	for f in "$1"/*.c; do
		id=$(sed -n 's/^[[:space:]]*\.id[[:space:]]*=[[:space:]]*\([0-9][0-9]*\).*/\1/p' "$f" | head -n 1)
		name=$(sed -n 's/^[[:space:]]*\.name[[:space:]]*=[[:space:]]*"\([a-z_]*\)".*/\1/p' "$f" | head -n 1)
		[ -n "$id" ] && [ -n "$name" ] || continue
		hooks=
		for h in validate plan run_subtask collect; do
			if grep -q "^[[:space:]]*\.$h[[:space:]]*=" "$f"; then
				hooks="$hooks${hooks:+, }\`$h\`"
			fi
		done
		case $hooks in
		*plan*run_subtask*) status="runs in the scheduler" ;;
		*) status="accepted and stored; stays pending (no scheduler hooks in this build)" ;;
		esac
		printf '%s|%s|%s|%s\n' "$id" "$name" "${hooks:-none}" "$status"
	done | sort -n | awk -F'|' '{ printf "| %s | `%s` | %s | %s |\n", $1, $2, $3, $4 }'
}

{
	echo "| type | name | hooks in this build | status |"
	echo "|---|---|---|---|"
	if [ -n "$tasks" ] && [ -d "$tasks" ]; then
		task_rows "$tasks"
	fi
} > "$tmp.status"
awk -v status="$tmp.status" '
	$0 == "@TASK_STATUS@" { while ((getline line < status) > 0) print line; next }
	{ print }
' "$in" > "$tmp.md"

# -T: table of contents first; toc,idanchor,urlencodedanchor: HTML5 id= on
# every heading.
"$md" -T -f toc,idanchor,urlencodedanchor,fencedcode,tables,autolink,-smarty "$tmp.md" > "$tmp.all"

# The table of contents is the leading <ul> ... </ul> block (its outermost
# closing tag is the first "</ul>" at the start of a line); the rest is the
# body. The manual has no level-1 heading (the template has the title), so
# the outermost list and its one item are empty: they are dropped.
awk -v toc="$tmp.toc" -v body="$tmp.body" '
	NR == 1 && $0 == "<ul>" { intoc = 1 }
	intoc { t[++n] = $0; if ($0 == "</ul>") intoc = 0; next }
	{ print > body }
	END {
		skip = n > 3 && t[2] == " <li>" && t[n - 1] == " </li>"
		for (i = 1; i <= n; i++)
			if (!(skip && (i <= 2 || i >= n - 1)))
				print t[i] > toc
	}
' "$tmp.all"
[ -f "$tmp.toc" ] || : > "$tmp.toc"
[ -f "$tmp.body" ] || : > "$tmp.body"

awk -v toc="$tmp.toc" -v body="$tmp.body" -v version="$version" '
	$0 == "@TOC@" { while ((getline line < toc) > 0) print line; next }
	$0 == "@BODY@" { while ((getline line < body) > 0) print line; next }
	{ gsub(/@VERSION@/, version); print }
' "$tpl" > "$tmp"
mv "$tmp" "$out"
