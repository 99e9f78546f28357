# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_esmtp_global_optspecs
    string join \n f= F= t C= v X= N= R= V= B= b= I q= i A= c d= e= G h= L= M= m n O= o= p= s T= help version
end

function __fish_esmtp_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_esmtp_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_esmtp_using_subcommand
    set -l cmd (__fish_esmtp_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c esmtp -n "__fish_esmtp_needs_command" -s f -s r -d 'Envelope sender; selects the identity' -r
complete -c esmtp -n "__fish_esmtp_needs_command" -s F -d 'Full name of the sender, used in an added From: header' -r
complete -c esmtp -n "__fish_esmtp_needs_command" -s C -d 'Configuration file (instead of ~/.esmtprc or /etc/esmtprc)' -r
complete -c esmtp -n "__fish_esmtp_needs_command" -s X -d 'Append a protocol transcript to FILE (credentials never written)' -r
complete -c esmtp -n "__fish_esmtp_needs_command" -s N -d 'Delivery status notifications: never, or failure,delay,success' -r
complete -c esmtp -n "__fish_esmtp_needs_command" -s R -d 'What a DSN returns: full or hdrs' -r
complete -c esmtp -n "__fish_esmtp_needs_command" -s V -d 'Envelope identifier for DSNs' -r
complete -c esmtp -n "__fish_esmtp_needs_command" -s B -d 'Body type: 7BIT or 8BITMIME' -r
complete -c esmtp -n "__fish_esmtp_needs_command" -s b -d 'Mode: m deliver (default), p list the queue, i rebuild aliases (no-op)' -r
complete -c esmtp -n "__fish_esmtp_needs_command" -s q -d 'Deliver the queue once (-q or -q30m)' -r
complete -c esmtp -n "__fish_esmtp_needs_command" -s A -d 'Accepted for sendmail compatibility; ignored' -r
complete -c esmtp -n "__fish_esmtp_needs_command" -s d -d 'Accepted for sendmail compatibility; ignored' -r
complete -c esmtp -n "__fish_esmtp_needs_command" -s e -d 'Accepted for sendmail compatibility; ignored' -r
complete -c esmtp -n "__fish_esmtp_needs_command" -s h -d 'Accepted for sendmail compatibility; ignored' -r
complete -c esmtp -n "__fish_esmtp_needs_command" -s L -d 'Accepted for sendmail compatibility; ignored' -r
complete -c esmtp -n "__fish_esmtp_needs_command" -s M -d 'Accepted for sendmail compatibility; ignored' -r
complete -c esmtp -n "__fish_esmtp_needs_command" -s O -d 'Accepted for sendmail compatibility; ignored' -r
complete -c esmtp -n "__fish_esmtp_needs_command" -s o -d 'Sendmail option (-oi, -oem, ...); ignored' -r
complete -c esmtp -n "__fish_esmtp_needs_command" -s p -d 'Accepted for sendmail compatibility; ignored' -r
complete -c esmtp -n "__fish_esmtp_needs_command" -s T -d 'Accepted for sendmail compatibility; ignored' -r
complete -c esmtp -n "__fish_esmtp_needs_command" -s t -d 'Take recipients from To:, Cc: and Bcc:, then remove Bcc:'
complete -c esmtp -n "__fish_esmtp_needs_command" -s v -d 'Verbose progress on standard output'
complete -c esmtp -n "__fish_esmtp_needs_command" -s I -d 'Same as -bi: do nothing'
complete -c esmtp -n "__fish_esmtp_needs_command" -s i -d 'Dots alone on a line do not end the message (always so); ignored'
complete -c esmtp -n "__fish_esmtp_needs_command" -s c -d 'Accepted for sendmail compatibility; ignored'
complete -c esmtp -n "__fish_esmtp_needs_command" -s G -d 'Accepted for sendmail compatibility; ignored'
complete -c esmtp -n "__fish_esmtp_needs_command" -s m -d 'Accepted for sendmail compatibility; ignored'
complete -c esmtp -n "__fish_esmtp_needs_command" -s n -d 'Accepted for sendmail compatibility; ignored'
complete -c esmtp -n "__fish_esmtp_needs_command" -s s -d 'Accepted for sendmail compatibility; ignored'
complete -c esmtp -n "__fish_esmtp_needs_command" -l help -d 'Print help'
complete -c esmtp -n "__fish_esmtp_needs_command" -l version -d 'Print version'
complete -c esmtp -n "__fish_esmtp_needs_command" -a "check" -d 'Parse, compile and lint esmtprc files without any network access'
complete -c esmtp -n "__fish_esmtp_needs_command" -a "dump" -d 'Print the compiled configuration plan, secrets redacted'
complete -c esmtp -n "__fish_esmtp_needs_command" -a "route" -d 'Print where a message would go, without sending anything'
complete -c esmtp -n "__fish_esmtp_needs_command" -a "queue" -d 'Inspect and deliver the durable queue'
complete -c esmtp -n "__fish_esmtp_needs_command" -a "compile" -d 'Compile the configuration and store the compiled plan in the cache'
complete -c esmtp -n "__fish_esmtp_needs_command" -a "completions" -d 'Print a shell completion script (bash, zsh or fish)'
complete -c esmtp -n "__fish_esmtp_needs_command" -a "import" -d 'Convert another program\'s configuration to esmtprc'
complete -c esmtp -n "__fish_esmtp_needs_command" -a "oauth" -d 'Authorize esmtp with an OAuth 2 provider, show or delete the stored tokens'
complete -c esmtp -n "__fish_esmtp_needs_command" -a "probe" -d 'Connect to each identity\'s smarthost as sending would, and report what it offers'
complete -c esmtp -n "__fish_esmtp_using_subcommand check" -l format -d 'Output: human (rustc-style), short (one line each), json, github (Actions annotations), sarif (SARIF 2.1.0, for code scanning)' -r -f -a "human\t''
short\t''
json\t''
github\t''
sarif\t''"
complete -c esmtp -n "__fish_esmtp_using_subcommand check" -l explain -d 'Explain a diagnostic code, e.g. E003' -r
complete -c esmtp -n "__fish_esmtp_using_subcommand check" -s v -l verbose -d 'Also say whether the cached compiled plan of each file is fresh'
complete -c esmtp -n "__fish_esmtp_using_subcommand check" -l compat -d 'Also report every construct esmtp 1.2 would not accept identically'
complete -c esmtp -n "__fish_esmtp_using_subcommand check" -l deny-warnings -d 'Exit 1 on warnings too'
complete -c esmtp -n "__fish_esmtp_using_subcommand check" -l no-permission-lints -d 'Skip the file permission checks (for a dotfile checked out in CI)'
complete -c esmtp -n "__fish_esmtp_using_subcommand check" -s h -l help -d 'Print help'
complete -c esmtp -n "__fish_esmtp_using_subcommand dump" -l format -d 'Output format' -r -f -a "text\t''
json\t''"
complete -c esmtp -n "__fish_esmtp_using_subcommand dump" -s h -l help -d 'Print help'
complete -c esmtp -n "__fish_esmtp_using_subcommand route" -s C -l config -d 'Configuration file (default ~/.esmtprc, then /etc/esmtprc)' -r -F
complete -c esmtp -n "__fish_esmtp_using_subcommand route" -s f -d 'Envelope sender (selects the identity)' -r
complete -c esmtp -n "__fish_esmtp_using_subcommand route" -s t -d 'Also take recipients from the headers on standard input'
complete -c esmtp -n "__fish_esmtp_using_subcommand route" -s h -l help -d 'Print help'
complete -c esmtp -n "__fish_esmtp_using_subcommand queue; and not __fish_seen_subcommand_from list status flush remove" -s C -l config -d 'Configuration file (default ~/.esmtprc, then /etc/esmtprc)' -r -F
complete -c esmtp -n "__fish_esmtp_using_subcommand queue; and not __fish_seen_subcommand_from list status flush remove" -s v -l verbose -d 'Show progress'
complete -c esmtp -n "__fish_esmtp_using_subcommand queue; and not __fish_seen_subcommand_from list status flush remove" -s h -l help -d 'Print help'
complete -c esmtp -n "__fish_esmtp_using_subcommand queue; and not __fish_seen_subcommand_from list status flush remove" -f -a "list" -d 'List queued messages (as mailq)'
complete -c esmtp -n "__fish_esmtp_using_subcommand queue; and not __fish_seen_subcommand_from list status flush remove" -f -a "status" -d 'Say whether mail is waiting: exit 0 when it is, 1 when nothing is queued'
complete -c esmtp -n "__fish_esmtp_using_subcommand queue; and not __fish_seen_subcommand_from list status flush remove" -f -a "flush" -d 'Deliver the queued messages (as -q, deliver)'
complete -c esmtp -n "__fish_esmtp_using_subcommand queue; and not __fish_seen_subcommand_from list status flush remove" -f -a "remove" -d 'Delete queued or failed messages by id'
complete -c esmtp -n "__fish_esmtp_using_subcommand queue; and __fish_seen_subcommand_from list" -s C -l config -d 'Configuration file (default ~/.esmtprc, then /etc/esmtprc)' -r -F
complete -c esmtp -n "__fish_esmtp_using_subcommand queue; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c esmtp -n "__fish_esmtp_using_subcommand queue; and __fish_seen_subcommand_from list" -s v -l verbose -d 'Show progress'
complete -c esmtp -n "__fish_esmtp_using_subcommand queue; and __fish_seen_subcommand_from status" -s C -l config -d 'Configuration file (default ~/.esmtprc, then /etc/esmtprc)' -r -F
complete -c esmtp -n "__fish_esmtp_using_subcommand queue; and __fish_seen_subcommand_from status" -s q -l quiet -d 'Print nothing; only the exit status tells (for ExecCondition=)'
complete -c esmtp -n "__fish_esmtp_using_subcommand queue; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help'
complete -c esmtp -n "__fish_esmtp_using_subcommand queue; and __fish_seen_subcommand_from status" -s v -l verbose -d 'Show progress'
complete -c esmtp -n "__fish_esmtp_using_subcommand queue; and __fish_seen_subcommand_from flush" -s C -l config -d 'Configuration file (default ~/.esmtprc, then /etc/esmtprc)' -r -F
complete -c esmtp -n "__fish_esmtp_using_subcommand queue; and __fish_seen_subcommand_from flush" -l due -d 'Only the messages whose retry time has come'
complete -c esmtp -n "__fish_esmtp_using_subcommand queue; and __fish_seen_subcommand_from flush" -s h -l help -d 'Print help'
complete -c esmtp -n "__fish_esmtp_using_subcommand queue; and __fish_seen_subcommand_from flush" -s v -l verbose -d 'Show progress'
complete -c esmtp -n "__fish_esmtp_using_subcommand queue; and __fish_seen_subcommand_from remove" -s C -l config -d 'Configuration file (default ~/.esmtprc, then /etc/esmtprc)' -r -F
complete -c esmtp -n "__fish_esmtp_using_subcommand queue; and __fish_seen_subcommand_from remove" -s h -l help -d 'Print help'
complete -c esmtp -n "__fish_esmtp_using_subcommand queue; and __fish_seen_subcommand_from remove" -s v -l verbose -d 'Show progress'
complete -c esmtp -n "__fish_esmtp_using_subcommand compile" -s v -l verbose -d 'Say what was compiled and where it went'
complete -c esmtp -n "__fish_esmtp_using_subcommand compile" -s h -l help -d 'Print help'
complete -c esmtp -n "__fish_esmtp_using_subcommand completions" -s h -l help -d 'Print help'
complete -c esmtp -n "__fish_esmtp_using_subcommand import; and not __fish_seen_subcommand_from msmtp" -s h -l help -d 'Print help'
complete -c esmtp -n "__fish_esmtp_using_subcommand import; and not __fish_seen_subcommand_from msmtp" -f -a "msmtp" -d 'Print the esmtprc equivalent of an msmtprc on standard output'
complete -c esmtp -n "__fish_esmtp_using_subcommand import; and __fish_seen_subcommand_from msmtp" -s h -l help -d 'Print help'
complete -c esmtp -n "__fish_esmtp_using_subcommand oauth; and not __fish_seen_subcommand_from authorize status revoke" -s C -l config -d 'Configuration file (default ~/.esmtprc, then /etc/esmtprc)' -r -F
complete -c esmtp -n "__fish_esmtp_using_subcommand oauth; and not __fish_seen_subcommand_from authorize status revoke" -s h -l help -d 'Print help'
complete -c esmtp -n "__fish_esmtp_using_subcommand oauth; and not __fish_seen_subcommand_from authorize status revoke" -f -a "authorize" -d 'Log in with the provider once and store the tokens'
complete -c esmtp -n "__fish_esmtp_using_subcommand oauth; and not __fish_seen_subcommand_from authorize status revoke" -f -a "status" -d 'Show whether tokens are stored, when the access token expires, the scopes'
complete -c esmtp -n "__fish_esmtp_using_subcommand oauth; and not __fish_seen_subcommand_from authorize status revoke" -f -a "revoke" -d 'Delete the stored tokens'
complete -c esmtp -n "__fish_esmtp_using_subcommand oauth; and __fish_seen_subcommand_from authorize" -s C -l config -d 'Configuration file (default ~/.esmtprc, then /etc/esmtprc)' -r -F
complete -c esmtp -n "__fish_esmtp_using_subcommand oauth; and __fish_seen_subcommand_from authorize" -l device -d 'Device flow: print a URL and a code to enter on any device'
complete -c esmtp -n "__fish_esmtp_using_subcommand oauth; and __fish_seen_subcommand_from authorize" -s h -l help -d 'Print help'
complete -c esmtp -n "__fish_esmtp_using_subcommand oauth; and __fish_seen_subcommand_from status" -l format -d 'Output format' -r -f -a "text\t''
json\t''"
complete -c esmtp -n "__fish_esmtp_using_subcommand oauth; and __fish_seen_subcommand_from status" -s C -l config -d 'Configuration file (default ~/.esmtprc, then /etc/esmtprc)' -r -F
complete -c esmtp -n "__fish_esmtp_using_subcommand oauth; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help'
complete -c esmtp -n "__fish_esmtp_using_subcommand oauth; and __fish_seen_subcommand_from revoke" -s C -l config -d 'Configuration file (default ~/.esmtprc, then /etc/esmtprc)' -r -F
complete -c esmtp -n "__fish_esmtp_using_subcommand oauth; and __fish_seen_subcommand_from revoke" -s h -l help -d 'Print help'
complete -c esmtp -n "__fish_esmtp_using_subcommand probe" -s C -l config -d 'Configuration file (default ~/.esmtprc, then /etc/esmtprc)' -r -F
complete -c esmtp -n "__fish_esmtp_using_subcommand probe" -l format -d 'Output: text, or json (field names in esmtp(1))' -r -f -a "text\t''
json\t''"
complete -c esmtp -n "__fish_esmtp_using_subcommand probe" -l all -d 'Probe every identity that has a hostname'
complete -c esmtp -n "__fish_esmtp_using_subcommand probe" -l login -d 'Also log in with the identity\'s credentials (then QUIT; nothing is sent)'
complete -c esmtp -n "__fish_esmtp_using_subcommand probe" -s h -l help -d 'Print help'
