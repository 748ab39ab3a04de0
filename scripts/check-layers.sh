#!/usr/bin/env bash
# check-layers.sh — fails when an #include points the wrong way, or a rule of the
# rooms is broken.
#   - the folders: vi-nlp <- intents <- gateway, channels <- gateway (DESIGN.md);
#   - inside gateway/: the rooms table of gateway/README.md ("may include" column);
#   - one keyspace: no Redis key name ("mc:..." in C or Lua text) outside
#     gateway/store/gw_keys.[ch], where the table of families is;
#   - no channel name in gateway/: the provider channels are the adapter table's
#     (channels/), the gateway asks it.
# Prints one line per violation and ends with "layers: N files checked, N violations".
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bad=0
checked=0
fail() { echo "layers: $*"; bad=$((bad + 1)); }

# Lower folders: what each may include (besides itself and core/).
declare -A lower=([core]="" [vi-nlp]="" [intents]="vi-nlp" [channels]="")
for dir in "${!lower[@]}"; do
    for f in $(git ls-files --cached --others --exclude-standard "$dir/*.c" "$dir/*.h"); do
        checked=$((checked + 1))
        while IFS= read -r inc; do
            top=${inc%%/*}
            [ "$top" = "$dir" ] || [ "$top" = core ] && continue
            case " ${lower[$dir]} " in *" $top "*) continue ;; esac
            fail "$f includes $inc ($dir may include only core${lower[$dir]:+, ${lower[$dir]}})"
        done < <(grep -oE '^#include "[^"]+"' "$f" | sed 's/#include "//; s/"$//')
    done
done

# gateway/ rooms from the table of gateway/README.md.
declare -A may
while IFS='|' read -r _ room _ uses _; do
    room=$(echo "$room" | tr -d ' `/')
    [ -n "$room" ] || continue
    may[$room]=$(echo "$uses" | tr -d ' ' | tr ',' ' ')
done < <(sed -n '/<!-- rooms:/,/^$/p' gateway/README.md | grep -E '^\| `')
[ "${#may[@]}" -gt 0 ] || { echo "layers: no rooms table in gateway/README.md"; exit 1; }

for f in $(git ls-files --cached --others --exclude-standard 'gateway/*.c' 'gateway/*.h'); do
    rel=${f#gateway/}
    case "$rel" in */*) room=${rel%%/*} ;; *) room=. ;; esac
    if [ -z "${may[$room]+x}" ]; then
        fail "$f is in room $room, which gateway/README.md does not list"
        continue
    fi
    checked=$((checked + 1))
    while IFS= read -r inc; do
        case "$inc" in
            gateway/*/*) target=${inc#gateway/}; target=${target%%/*} ;;
            gateway/*) target=. ;;
            *) continue ;; # core, vi-nlp, intents, channels: allowed to every room
        esac
        [ "$target" = "$room" ] && continue
        case " ${may[$room]} " in *" $target "*) continue ;; esac
        fail "$f includes $inc (room $room may include: ${may[$room]:-nothing else})"
    done < <(grep -oE '^#include "[^"]+"' "$f" | sed 's/#include "//; s/"$//')
done

# One keyspace: key names are built from the table of gateway/store/gw_keys.c only.
while IFS= read -r hit; do
    fail "a Redis key written outside the keyspace module: $hit"
done < <(git ls-files --cached --others --exclude-standard '*.c' '*.h' |
    grep -v '^gateway/store/gw_keys\.[ch]$' | grep -v '^tests/' |
    xargs grep -nE "[\"'](mc:|mc:\{)" 2>/dev/null)

# No channel name in gateway/: the provider channels' names (channels/), quoted.
names=$(grep -hoE '#define [A-Z_]+_CHANNEL "[a-z0-9_]+"' channels/*.c channels/*.h | grep -v WEBCHAT_ |
    sed 's/.*"\(.*\)"/\1/' | sort -u | paste -sd'|')
[ -n "$names" ] || fail "no channel names found in channels/"
while IFS= read -r hit; do
    fail "a channel named in gateway/ (ask the adapter table): $hit"
done < <(git ls-files --cached --others --exclude-standard 'gateway/*.c' 'gateway/*.h' |
    xargs grep -nE "[\"'](${names:-^$})[\"']" 2>/dev/null)

echo "layers: $checked files checked, $bad violations"
[ "$bad" -eq 0 ]
