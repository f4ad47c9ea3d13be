// PID 1 of the container: a tiny init. A process that is PID 1 gets no default signal
// actions, and orphans are reparented to it, so the command must not be PID 1 itself:
// init forwards the usual termination signals to it, reaps every zombie, and exits with
// the command's status (128+signal when it was killed), reporting the raw status first.
#include "sandbox/child.hpp"

#include <cerrno>
#include <csignal>
#include <sys/wait.h>
#include <unistd.h>

namespace strata::sandbox {
namespace {

constexpr int forwarded_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

int exit_code_of(int status) noexcept { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

// Keeps only the report pipe: the command has its own copies of the stdio fds, and init
// holding them would keep a reader waiting after the command is gone.
void close_all_but(int fd) noexcept {
    if (fd > 0) ::close_range(0, static_cast<unsigned>(fd) - 1, 0);
    ::close_range(static_cast<unsigned>(fd) + 1, ~0U, 0);
}

} // namespace

void child_run_init(const ChildPlan& plan) noexcept {
    // Blocked signals stay pending for sigwaitinfo; blocking also defeats the kernel's rule
    // that drops default-action signals sent to a namespace's init.
    sigset_t handled;
    sigemptyset(&handled);
    sigaddset(&handled, SIGCHLD);
    for (int sig : forwarded_signals) sigaddset(&handled, sig);
    ::sigprocmask(SIG_BLOCK, &handled, nullptr);

    // _Fork: no atfork handlers, which could wait on locks copied from another parent thread.
    const pid_t command = ::_Fork();
    if (command < 0) child_fail(plan, "fork", errno, "fork the command");
    if (command == 0) child_exec_command(plan);
    child_init_join_user_namespace(plan);
    close_all_but(plan.error_fd);
    // Only after the fork: the command drops its own capabilities, and needs CAP_SETPCAP,
    // SETUID and SETGID to do so.
    child_confine_init(plan);

    for (;;) {
        siginfo_t info;
        const int sig = ::sigwaitinfo(&handled, &info);
        if (sig < 0) continue;  // EINTR
        if (sig != SIGCHLD) {
            ::kill(command, sig);
            continue;
        }
        int status = 0;
        pid_t reaped;
        while ((reaped = ::waitpid(-1, &status, WNOHANG)) > 0) {
            if (reaped != command) continue;
            child_report(plan, ChildReport::Kind::exited, "exit", 0, status, "", nullptr);
            // Exiting kills every other process in the PID namespace.
            ::_exit(exit_code_of(status));
        }
    }
}

} // namespace strata::sandbox
