# Bash completion for supervisorctl: verbs, flags, pool names (asked of the
# daemon with the hidden `supervisorctl _pools`, 1 s at most, silent when it
# is down) and pool:N worker names (1 s at most too). Source it:
# . ctl/supervisorctl.bash. Works with or without the bash-completion package.

# Without bash-completion's _init_completion: the words up to the cursor, read
# from COMP_LINE so that "zlib:0" stays one word (bash splits COMP_WORDS at
# ':', which is in COMP_WORDBREAKS).
_supervisorctl_words() {
  if [[ -z ${COMP_LINE+set} ]]; then
    words=("${COMP_WORDS[@]}")
    cword=$COMP_CWORD
  else
    local line=${COMP_LINE:0:${COMP_POINT:-${#COMP_LINE}}}
    read -ra words <<<"$line"
    [[ $line == *[[:space:]] || ${#words[@]} -eq 0 ]] && words+=("")
    cword=$((${#words[@]} - 1))
  fi
  cur=${words[cword]}
  prev=${words[cword-1]}
}

# Bash replaces only what follows the last ':' of the word being completed:
# drop the part up to it from each reply (bash-completion's __ltrim_colon_completions).
_supervisorctl_ltrim_colon() {
  [[ $1 == *:* && $COMP_WORDBREAKS == *:* ]] || return
  local prefix=${1%"${1##*:}"} i
  for i in "${!COMPREPLY[@]}"; do COMPREPLY[i]=${COMPREPLY[i]#"$prefix"}; done
}

_supervisorctl() {
  local cur prev words cword
  _init_completion -n : 2>/dev/null || _supervisorctl_words
  local verbs="status start stop restart reread update scale signal pid tail call shutdown version check-config help"
  local flags="-s --socket -c --config --json --timeout -h --help"

  case $prev in
    -s|--socket|-c|--config) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --timeout) COMPREPLY=($(compgen -W "500ms 1s 5s 10s 30s 1m" -- "$cur")); return ;;
    -n|--lines) return ;;
  esac

  # The verb, and the flags that say where the daemon is (for _pools).
  local verb="" i where=() nargs=0
  for ((i = 1; i < cword; i++)); do
    case ${words[i]} in
      -s|--socket|-c|--config) where+=("${words[i]}" "${words[i+1]}"); ((i++)) ;;
      --timeout|-n|--lines) ((i++)) ;;
      -*) ;;
      *) if [[ -z $verb ]]; then verb=${words[i]}; else ((nargs++)); fi ;;
    esac
  done

  if [[ $cur == -* ]]; then
    [[ $verb == tail ]] && flags+=" -f -n"
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
    return
  fi
  if [[ -z $verb ]]; then
    COMPREPLY=($(compgen -W "$verbs" -- "$cur"))
    return
  fi

  local pools
  case $verb in
    help) ((nargs == 0)) && COMPREPLY=($(compgen -W "$verbs" -- "$cur")) ;;
    check-config) COMPREPLY=($(compgen -f -- "$cur")) ;;
    status|start|stop|restart|update|scale|tail|call|pid|signal)
      if [[ $verb == signal && $nargs == 0 ]]; then
        COMPREPLY=($(compgen -W "HUP INT TERM KILL USR1 USR2 QUIT" -- "$cur"))
        return
      fi
      if [[ $verb == tail && $nargs == 1 ]]; then COMPREPLY=($(compgen -W "stdout stderr" -- "$cur")); return; fi
      if [[ $verb == call && $nargs == 2 ]]; then
        if [[ $cur == @* ]]; then COMPREPLY=($(compgen -f -P @ -- "${cur#@}")); fi
        return
      fi
      if [[ ($verb == scale || $verb == tail || $verb == call || $verb == pid) && $nargs -ge 1 ]]; then return; fi
      pools=$(supervisorctl "${where[@]}" _pools 2>/dev/null)
      local words_=$pools
      case $verb in
        start|stop|restart|status) words_+=" all" ;;
      esac
      # pool:N once a pool name and its colon are typed: the pool's workers as
      # the daemon lists them (`_pools POOL`, 1 s at most).
      if [[ $cur == *:* && $verb != update && $verb != scale && $verb != tail && $verb != call ]]; then
        local slots
        slots=$(supervisorctl "${where[@]}" _pools "${cur%%:*}" 2>/dev/null)
        COMPREPLY=($(compgen -W "$slots" -- "$cur"))
        _supervisorctl_ltrim_colon "$cur"
        return
      fi
      COMPREPLY=($(compgen -W "$words_" -- "$cur"))
      ;;
  esac
}
complete -F _supervisorctl supervisorctl
