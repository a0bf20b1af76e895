#!/bin/sh
# render-manual.sh MARKDOWN INPUT.md TEMPLATE.html VERSION OUTPUT.html [TYPES.md]
#
# Renders the operator manual with discount's markdown(1) and puts it into
# the page template: the template's line @TOC@ becomes the table of contents
# (sections and subsections), the line @BODY@ the manual, and @VERSION@ the
# package version. A line @TASK_TYPES@ of the manual becomes the table in
# TYPES.md, which the build prints from the registry of task types
# (docs/task-types). PNG pictures next to INPUT.md are embedded as data:
# URIs. The output is written to a temporary file first, so a
# failed run leaves no half-written page behind.
set -eu
if [ $# -lt 5 ] || [ $# -gt 6 ]; then
	echo "usage: $0 MARKDOWN INPUT.md TEMPLATE.html VERSION OUTPUT.html [TYPES.md]" >&2
	exit 2
fi
md=$1 in=$2 tpl=$3 version=$4 out=$5 types=${6:-}
tmp=$out.tmp.$$
trap 'rm -f "$tmp" "$tmp.md" "$tmp.types" "$tmp.all" "$tmp.toc" "$tmp.body" "$tmp.img"' EXIT

if [ -n "$types" ]; then cp "$types" "$tmp.types"; else : > "$tmp.types"; fi
awk -v types="$tmp.types" '
	$0 == "@TASK_TYPES@" { while ((getline line < types) > 0) print line; next }
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

# Pictures of the manual (<img src="NAME.png">, files next to INPUT.md) become
# data: URIs, so that the page stays one self-contained file.
awk -v dir="$(dirname "$in")" '
	{
		while (match($0, /src="[A-Za-z0-9_.-]+\.png"/)) {
			name = substr($0, RSTART + 5, RLENGTH - 6)
			cmd = "base64 -w0 \"" dir "/" name "\""
			data = ""
			cmd | getline data
			close(cmd)
			if (data == "") {
				print "render-manual.sh: cannot read " dir "/" name > "/dev/stderr"
				exit 1
			}
			printf "%s", substr($0, 1, RSTART - 1) "src=\"data:image/png;base64," data "\""
			$0 = substr($0, RSTART + RLENGTH)
		}
		print
	}
' "$tmp.body" > "$tmp.img"
mv "$tmp.img" "$tmp.body"

awk -v toc="$tmp.toc" -v body="$tmp.body" -v version="$version" '
	$0 == "@TOC@" { while ((getline line < toc) > 0) print line; next }
	$0 == "@BODY@" { while ((getline line < body) > 0) print line; next }
	{ gsub(/@VERSION@/, version); print }
' "$tpl" > "$tmp"
mv "$tmp" "$out"
