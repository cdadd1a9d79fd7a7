#!/usr/bin/env bash
# man_pages.sh - each binary's man page (--help-man) and long help (--help-long), read by the
# real tools: groff -man -ww (all warnings) and man-db's `man --warnings -l` report nothing;
# lexgrog (what mandb and whatis read) finds "name - summary"; the rendered page is plain
# ASCII (options copy as typed) and shows every flag of --help with its default, exactly as
# --help writes it; the proxy's page has SIGNALS, the client's ENVIRONMENT with
# HTTPS_PROXY, HTTP_PROXY and NO_PROXY; --help-long exits 0 with every line of --help;
# --help-man to a full disk exits 1; build/man/<binary>.1 (make man) is what the binary
# writes; and (release build only) `make install DESTDIR=...` installs the pages where
# `man -M` finds them.
# tsan: no
set -u
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

require_bin "$PROXY_BIN"
command -v groff >/dev/null || skip "groff is not installed (Debian: groff-base)"
have_man=0
command -v man >/dev/null && command -v lexgrog >/dev/null && have_man=1
[ "$have_man" = 1 ] || log "man-db is not installed: its checks are skipped"

# render PAGE: the page as text, lines wide enough that a flag's term never wraps. groff's
# man macros print hyphens, apostrophes and backquotes as ASCII on a UTF-8 terminal, which
# would hide an unescaped one; here, as groff does elsewhere (and as Debian's man.local
# suggests for checking pages), they print as a hyphen, quotes, and '^' '~' as modifier
# letters: only \-, \(aq, \(ga, \(ha and \(ti come out as ASCII.
render() {
    sed '/^\.TH /a\
.char - \\[u2010]\
.char '"'"' \\[u2019]\
.char ` \\[u2018]\
.char ^ \\[u02C6]\
.char ~ \\[u02DC]' "$1" | groff -man -Tutf8 -rLL=300n -P-cbou
}

checked=0
for name in proxy client bench; do
    bin="$BUILD/pushprox-$name"
    [ -x "$bin" ] || continue
    page="$TEST_TMP/pushprox-$name.1"

    "$bin" --help-man >"$page" 2>"$TEST_TMP/$name.err" || fail "$name: --help-man exited $?"
    [ -s "$TEST_TMP/$name.err" ] &&
        fail "$name: --help-man wrote to stderr: $(cat "$TEST_TMP/$name.err")"
    assert_starts_with "$(head -c 3 "$page")" '.\"' "$name: the page's first line"

    warn=$(groff -man -Tutf8 -ww -z "$page" 2>&1) || fail "$name: groff exited $?: $warn"
    assert_eq "" "$warn" "$name: groff -ww warnings"
    if [ "$have_man" = 1 ]; then
        warn=$(MANWIDTH=80 man -P cat --warnings -l "$page" 2>&1 >/dev/null) ||
            fail "$name: man -l exited $?: $warn"
        assert_eq "" "$warn" "$name: man --warnings"
        whatis=$(lexgrog "$page") || fail "$name: lexgrog cannot read the NAME section: $whatis"
        assert_contains "$whatis" "\"pushprox-$name - " "$name: lexgrog"
    fi

    text=$(render "$page") || fail "$name: groff could not render the page"
    if LC_ALL=C grep -n '[^[:print:][:space:]]' <<<"$text" >"$TEST_TMP/$name.nonascii"; then
        fail "$name: the rendered page is not plain ASCII: $(head -3 "$TEST_TMP/$name.nonascii")"
    fi
    for section in NAME SYNOPSIS DESCRIPTION OPTIONS "SEE ALSO" VERSION; do
        grep -qx "$section" <<<"$text" || fail "$name: no $section section"
    done
    version=$("$bin" --version)
    assert_contains "$(tr -s ' \n' '  ' <<<"$text")" "This page describes $version." \
        "$name: VERSION"

    # Every flag of --help, with its default: its term ("--name=DEFAULT", "--[no-]name",
    # "-h, --[no-]help") starts a line of the rendered page, as --help writes it, alone or
    # followed by spaces and its text (roff puts a term narrower than the indent there).
    help=$("$bin" --help) || fail "$name: --help exited $?"
    # A term alone on its line (with its default), or a meta flag's name before its help.
    flag_re='(-h, )?--(\[no-\])?[a-z0-9][a-z0-9._-]*'
    terms=$(grep -oE -- "^ +$flag_re(=.*)?\$|^ +$flag_re" <<<"$help" | sed 's/^ *//')
    n=0
    while IFS= read -r term; do
        [ -n "$term" ] || continue
        awk -v t="       $term" 'index($0, t) == 1 && substr($0, length(t) + 1) ~ /^( .*)?$/ \
            { found = 1 } END { exit !found }' <<<"$text" ||
            fail "$name: --help's [$term] is not a term of the man page"
        n=$((n + 1))
    done <<<"$terms"
    flags=$(grep -cE '^ +(-h, )?--' <<<"$help")
    assert_eq "$flags" "$n" "$name: flags of --help found in the man page"
    tps=$(grep -c '^\.TP$' "$page")
    [ "$tps" -ge "$n" ] || fail "$name: $tps .TP entries for $n flags"
    for meta in help-long help-man version; do
        grep -q -- "--\(\[no-\]\)\?$meta\$" <<<"$text" || fail "$name: no --$meta in the page"
    done

    case $name in
    proxy)
        for s in SIGNALS SIGHUP "SIGTERM, SIGINT"; do
            grep -qF -- "$s" <<<"$text" || fail "proxy: the page does not name $s"
        done
        ;;
    client)
        for s in ENVIRONMENT "HTTPS_PROXY, https_proxy" "HTTP_PROXY, http_proxy" \
            "NO_PROXY, no_proxy" SIGNALS; do
            grep -qF -- "$s" <<<"$text" || fail "client: the page does not name $s"
        done
        ;;
    esac

    # --help-long: everything --help says, and more (the description).
    long=$("$bin" --help-long) || fail "$name: --help-long exited $?"
    while IFS= read -r line; do
        grep -qxF -- "$line" <<<"$long" || fail "$name: --help-long lacks --help's line [$line]"
    done <<<"$help"
    [ "${#long}" -gt "${#help}" ] || fail "$name: --help-long is not longer than --help"
    assert_contains "$long" "pushprox-$name " "$name: --help-long's description"

    # A page that cannot be written is an error, not a silent empty page.
    rc=0
    "$bin" --help-man >/dev/full 2>"$TEST_TMP/$name.full" || rc=$?
    assert_eq 1 "$rc" "$name: exit status of --help-man >/dev/full"
    assert_contains "$(cat "$TEST_TMP/$name.full")" "cannot write" "$name: --help-man >/dev/full"

    if [ -f "$BUILD/man/pushprox-$name.1" ]; then
        cmp -s "$page" "$BUILD/man/pushprox-$name.1" ||
            fail "$name: $BUILD/man/pushprox-$name.1 is not what --help-man writes (stale?)"
    fi
    log "$name: page clean, $n flags with their defaults, --help-long ok"
    checked=$((checked + 1))
done
[ "$checked" -ge 1 ] || skip "no binary built"

# make install into a DESTDIR: the pages land in share/man/man1, where man finds them.
# Only for the release build: make would build it, and a sanitizer build needs its SAN.
if [ -z "$SAN" ] && [ "$have_man" = 1 ]; then
    dest="$TEST_TMP/dest"
    out=$(make -C "$ROOT" --no-print-directory install BUILD="$BUILD" DESTDIR="$dest" \
        PREFIX=/usr 2>&1) || fail "make install: $out"
    for name in proxy client bench; do
        [ -x "$BUILD/pushprox-$name" ] || continue
        [ -x "$dest/usr/bin/pushprox-$name" ] || fail "make install: no bin/pushprox-$name"
        found=$(man -M "$dest/usr/share/man" -w "pushprox-$name" 2>&1) ||
            fail "man -M does not find pushprox-$name: $found"
        assert_eq "$dest/usr/share/man/man1/pushprox-$name.1" "$found" "$name: installed page"
    done
    log "make install: pages in $dest/usr/share/man/man1"
fi
exit 0
