# Written from rmqlb's table of commands (cmd/rmqlb/table.go): do not edit.
# go test ./cmd/rmqlb -run TestGeneratedDocs -update writes it again.
_rmqlb() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	COMPREPLY=()
	if [ "$COMP_CWORD" -eq 1 ]; then
		COMPREPLY=($(compgen -W 'run check-config status backend sessions clients rebalance reload vrrp notify upgrade remove-stale import version help' -- "$cur"))
		return
	fi
	local flags="" argflags="" operand=0 i w
	case ${COMP_WORDS[1]} in
	run)
		flags='--config --log-format --takeover-from' argflags=' --config -config --log-format -log-format --takeover-from -takeover-from '
		case $prev in
			--config | -config) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")); return ;;
			--log-format | -log-format) COMPREPLY=($(compgen -W 'console json' -- "$cur")); return ;;
			--takeover-from | -takeover-from) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")); return ;;
		esac
		;;
	check-config)
		flags='--checks --config' argflags=' --config -config '
		case $prev in
			--config | -config) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")); return ;;
		esac
		;;
	status)
		flags='--config --json --socket --verbose --watch' argflags=' --config -config --socket -socket '
		case $prev in
			--config | -config) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")); return ;;
			--socket | -socket) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")); return ;;
		esac
		;;
	backend)
		flags='--config --rate --socket --wait' argflags=' --config -config --rate -rate --socket -socket '
		case $prev in
			--config | -config) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")); return ;;
			--rate | -rate) return ;;
			--socket | -socket) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")); return ;;
		esac
		;;
	sessions)
		flags='--client --config --json --limit --not-allowed --shutdown --socket' argflags=' --client -client --config -config --limit -limit --socket -socket '
		case $prev in
			--client | -client) return ;;
			--config | -config) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")); return ;;
			--limit | -limit) return ;;
			--socket | -socket) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")); return ;;
		esac
		;;
	clients)
		flags='--config --json --limit --socket' argflags=' --config -config --limit -limit --socket -socket '
		case $prev in
			--config | -config) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")); return ;;
			--limit | -limit) return ;;
			--socket | -socket) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")); return ;;
		esac
		;;
	rebalance)
		flags='--config --rate --socket --wait' argflags=' --config -config --rate -rate --socket -socket '
		case $prev in
			--config | -config) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")); return ;;
			--rate | -rate) return ;;
			--socket | -socket) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")); return ;;
		esac
		;;
	reload)
		flags='--config --dry-run --file --json --socket' argflags=' --config -config --file -file --socket -socket '
		case $prev in
			--config | -config) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")); return ;;
			--file | -file) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")); return ;;
			--socket | -socket) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")); return ;;
		esac
		;;
	vrrp)
		flags='--all --config --for --socket --timeout --wait' argflags=' --config -config --for -for --socket -socket --timeout -timeout '
		case $prev in
			--config | -config) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")); return ;;
			--for | -for) return ;;
			--socket | -socket) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")); return ;;
			--timeout | -timeout) return ;;
		esac
		;;
	notify)
		flags='--config --socket' argflags=' --config -config --socket -socket '
		case $prev in
			--config | -config) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")); return ;;
			--socket | -socket) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")); return ;;
		esac
		;;
	upgrade)
		flags='--binary --config --json --socket' argflags=' --binary -binary --config -config --socket -socket '
		case $prev in
			--binary | -binary) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")); return ;;
			--config | -config) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")); return ;;
			--socket | -socket) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")); return ;;
		esac
		;;
	remove-stale)
		flags='--config' argflags=' --config -config '
		case $prev in
			--config | -config) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")); return ;;
		esac
		;;
	import)
		flags='--haproxy --ipvsadm --keepalived' argflags=' --haproxy -haproxy --ipvsadm -ipvsadm --keepalived -keepalived '
		case $prev in
			--haproxy | -haproxy) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")); return ;;
			--ipvsadm | -ipvsadm) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")); return ;;
			--keepalived | -keepalived) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")); return ;;
		esac
		;;
	version)
		flags='' argflags='  '
		;;
	help)
		flags='' argflags='  '
		;;
	*) return ;;
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$flags" -- "$cur"))
		return
	fi
	# Which operand the word is: words before it that are neither flags nor
	# flags' values.
	for ((i = 2; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		if [[ $w == -* ]]; then
			[[ $argflags == *" $w "* ]] && ((i++))
			continue
		fi
		((operand++))
	done
	case ${COMP_WORDS[1]}:$operand in
	check-config:0) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")) ;;
	backend:1) COMPREPLY=($(compgen -W 'drain maint ready weight shutdown-sessions move-sessions' -- "$cur")) ;;
	vrrp:0) COMPREPLY=($(compgen -W 'release ready' -- "$cur")) ;;
	notify:1) COMPREPLY=($(compgen -W 'master backup fault stop' -- "$cur")) ;;
	help:0) COMPREPLY=($(compgen -W 'run check-config status backend sessions clients rebalance reload vrrp notify upgrade remove-stale import version help' -- "$cur")) ;;
	esac
}
complete -F _rmqlb rmqlb
