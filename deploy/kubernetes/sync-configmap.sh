#!/usr/bin/env bash
# sync-configmap.sh - copies ../haproxy/haproxy.cfg, byte for byte, into the ConfigMap of
# lb.yaml (run it after editing haproxy.cfg; deploy_configs.sh fails while they differ).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cfg="$here/../haproxy/haproxy.cfg"
yaml="$here/lb.yaml"
awk -v cfg="$cfg" '
    state == 0 {
        print
        if ($0 == "  haproxy.cfg: |") {
            while ((getline line < cfg) > 0)
                print (line == "" ? "" : "    " line)
            state = 1
        }
        next
    }
    state == 1 && $0 != "---" { next }
    { state = 2; print }
' "$yaml" >"$yaml.tmp"
mv "$yaml.tmp" "$yaml"
