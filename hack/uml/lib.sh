# shellcheck shell=bash
# What the cgroup v2 node's guest side (hack/uml/init.sh) shares: loading the
# user-mode-linux kernel's modules from the host's user-mode-linux package.
# Sourced inside the guest (PID 1's stage before any job), never on the host.
#
# UML's modules live in /usr/lib/uml/modules/<uname -r>/, not in
# /lib/modules, so modprobe cannot find them; uml_load_modules resolves the
# dependencies from that directory's modules.dep itself and insmods them.

# What the tests need: overlay (containerd's snapshotter, and the systemd
# set-up's root), autofs4 (systemd wants it at boot), the CNI bridge plugin's bridge and veth pairs,
# br_netfilter, and the netfilter pieces iptables needs for a masquerading
# bridge (ipMasq). This kernel has nf_tables but neither its ip nor its inet
# family (CONFIG_NF_TABLES_IPV4/INET unset): iptables-nft cannot make an ip
# table here, so the legacy x_tables modules (ip_tables, iptable_nat, ...)
# are loaded too, for iptables-legacy.
UML_MODULES=(
  overlay autofs4 bridge veth br_netfilter
  nf_conntrack nf_nat nf_tables nft_compat nft_chain_nat nft_masq nft_ct
  xt_MASQUERADE xt_comment xt_addrtype xt_conntrack xt_mark xt_nat
  ip_tables iptable_nat iptable_filter ip6_tables ip6table_nat ip6table_filter
)

# uml_load_modules [NAME...]: loads each module (default: UML_MODULES),
# its dependencies first (modules.dep lists them, the deepest last). A module
# built into the kernel or already loaded is skipped; one this kernel does
# not have at all is skipped with a note. Needs /sys mounted; insmod is
# kmod's or else busybox's.
uml_load_modules() {
  local dir name path n line
  local -A dep=() builtin=()
  local -a deps
  dir=/usr/lib/uml/modules/$(uname -r)
  [[ -f "$dir/modules.dep" ]] || { echo "uml: no $dir/modules.dep: loading no modules" >&2; return 0; }
  (($#)) || set -- "${UML_MODULES[@]}"
  # Read once, with builtins only: every process costs tens of ms in UML.
  while IFS= read -r line; do
    path=${line%%:*}
    name=${path##*/}
    dep[${name%.ko}]=$line
  done <"$dir/modules.dep"
  while IFS= read -r line; do
    name=${line##*/}
    builtin[${name%.ko}]=1
  done <"$dir/modules.builtin"
  for name in "$@"; do
    [[ -z "${builtin[$name]:-}" ]] || continue
    if [[ -z "${dep[$name]:-}" ]]; then
      echo "uml: note: this kernel has no module $name: skipped" >&2
      continue
    fi
    line=${dep[$name]}
    read -r -a deps <<<"${line#*:}"
    for ((n = ${#deps[@]} - 1; n >= 0; n--)); do
      _uml_insmod "$dir" "${deps[n]}" || return 1
    done
    _uml_insmod "$dir" "${line%%:*}" || return 1
  done
}

# _uml_insmod DIR PATH: insmod DIR/PATH unless /sys/module has it already.
_uml_insmod() {
  local mod
  mod=${2##*/}
  mod=${mod%.ko}
  mod=${mod//-/_}
  [[ -d /sys/module/$mod ]] && return 0
  if command -v insmod >/dev/null; then
    insmod "$1/$2"
  else
    busybox insmod "$1/$2"
  fi || { echo "uml: insmod $1/$2 failed" >&2; return 1; }
}
