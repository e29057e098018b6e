# virtlab-completion.bash — bash completion for virtlab, installed as
# PREFIX/share/bash-completion/completions/virtlab. Everything comes from the
# program itself, so it follows new subcommands and options: subcommands
# from `virtlab --help`, options from `virtlab CMD --help`, names of
# engines, MMUs, workloads and profiles from `virtlab list ...`.
_virtlab() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	local v=${COMP_WORDS[0]} cmd=${COMP_WORDS[1]:-} list="" pre=""
	COMPREPLY=()
	if [ "$COMP_CWORD" -eq 1 ]; then
		COMPREPLY=($(compgen -W "$("$v" --help 2>/dev/null | awk '/^  [a-z][a-z0-9-]* / { print $1 }') --help --version" -- "$cur"))
		return
	fi
	case $prev in
	--engine|--engines) list=engines ;;
	--mmu|--mmus) list=mmus ;;
	--workload|--workloads) list=workloads ;;
	--profile|--profiles) list=profiles ;;
	--db|--image|--out|--output|-o) COMPREPLY=($(compgen -f -- "$cur")); return ;;
	--format)
		COMPREPLY=($(compgen -W "$("$v" "$cmd" --help 2>/dev/null | sed -n 's/.*--format \([a-z|]*\).*/\1/p' | head -1 | tr '|' ' ')" -- "$cur"))
		return ;;
	esac
	if [ -n "$list" ]; then
		case $cur in *,*) pre=${cur%,*},; esac   # comma-separated lists (matrix)
		COMPREPLY=($(compgen -P "$pre" -W "$("$v" list $list 2>/dev/null | awk 'NR > 1 { print $1 }')" -- "${cur##*,}"))
		return
	fi
	if [ "$cmd" = list ] && [ "$COMP_CWORD" -eq 2 ]; then
		COMPREPLY=($(compgen -W "$("$v" list --help 2>/dev/null | head -1 | sed 's/.* //' | tr '|' ' ')" -- "$cur"))
		return
	fi
	COMPREPLY=($(compgen -W "$("$v" "$cmd" --help 2>/dev/null | grep -o -- '--[a-z][a-z0-9-]*' | sort -u)" -- "$cur"))
}
complete -F _virtlab virtlab
