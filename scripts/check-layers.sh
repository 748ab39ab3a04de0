#!/usr/bin/env bash
# check-layers.sh — fails when an #include points the wrong way.
#   - the folders: vi-nlp <- intents <- gateway, channels <- gateway (DESIGN.md);
#   - inside gateway/: the rooms table of gateway/README.md ("may include" column).
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

echo "layers: $checked files checked, $bad violations"
[ "$bad" -eq 0 ]
