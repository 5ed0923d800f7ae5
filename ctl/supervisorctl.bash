# Bash completion for supervisorctl: verbs, flags, pool names (asked of the
# daemon with the hidden `supervisorctl _pools`, 1 s at most, silent when it
# is down) and pool:N worker names. Source it: . ctl/supervisorctl.bash

_supervisorctl() {
  local cur prev words cword
  _init_completion -n : 2>/dev/null || {
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    words=("${COMP_WORDS[@]}")
    cword=$COMP_CWORD
  }
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
      if [[ $verb == call && $nargs == 2 ]]; then COMPREPLY=($(compgen -f -- "${cur#@}")); return; fi
      if [[ ($verb == scale || $verb == tail || $verb == call || $verb == pid) && $nargs -ge 1 ]]; then return; fi
      pools=$(supervisorctl "${where[@]}" _pools 2>/dev/null)
      local words_=$pools
      case $verb in
        start|stop|restart|status) words_+=" all" ;;
      esac
      # pool:N once a pool name and its colon are typed: slots 0..desired-1 are
      # not known without a status request, so offer the pool's own from status.
      if [[ $cur == *:* && $verb != update && $verb != scale && $verb != tail && $verb != call ]]; then
        local slots
        slots=$(supervisorctl "${where[@]}" --timeout 1s status "${cur%%:*}" 2>/dev/null | awk '$1 ~ /:/ {print $1}')
        COMPREPLY=($(compgen -W "$slots" -- "$cur"))
        __ltrim_colon_completions "$cur" 2>/dev/null
        return
      fi
      COMPREPLY=($(compgen -W "$words_" -- "$cur"))
      ;;
  esac
}
complete -F _supervisorctl supervisorctl
