// Capability names and docker's --cap-add/--cap-drop rules; the default seccomp program,
// loaded for real in a forked child (no root needed: no_new_privs allows it).
#include <catch2/catch.hpp>

#include "sandbox/privileges.hpp"
#include "util/error.hpp"

#include <cerrno>
#include <csignal>
#include <ctime>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace privileges_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata;
using namespace strata::sandbox;

namespace {

constexpr CapabilityMask docker_mask = 0xa80425fbULL;
constexpr int last_cap = 40;
constexpr int cap_sys_admin = 21;

} // namespace

TEST_CASE("capability names parse with or without CAP_, in any case", "[privileges]") {
    CHECK(capability_number("CAP_CHOWN") == 0);
    CHECK(capability_number("sys_admin") == cap_sys_admin);
    CHECK(capability_number("Cap_Net_Raw") == 13);
    CHECK(capability_number("CHECKPOINT_RESTORE") == 40);
    CHECK(capability_name(21) == "CAP_SYS_ADMIN");
    CHECK_THROWS_WITH(capability_number("SYS_ADMN"), "unknown capability 'SYS_ADMN'");
    CHECK_THROWS_AS(capability_number("CAP_"), Error);
}

TEST_CASE("docker's default set is the 14 capabilities of moby's defaults", "[privileges]") {
    CHECK(docker_default_capabilities() == docker_mask);
    CHECK(all_capabilities(40) == 0x1ffffffffffULL);
    CHECK(all_capabilities(37) == 0x3fffffffffULL);
}

TEST_CASE("cap_add and cap_drop follow docker's rules", "[privileges]") {
    CHECK(resolve_capabilities({}, {}, last_cap) == docker_mask);
    CHECK(resolve_capabilities({"SYS_ADMIN"}, {}, last_cap) == (docker_mask | capability_bit(cap_sys_admin)));
    CHECK(resolve_capabilities({}, {"chown", "CAP_KILL"}, last_cap) == (docker_mask & ~CapabilityMask{0x21}));
    CHECK(resolve_capabilities({}, {"ALL"}, last_cap) == 0);
    CHECK(resolve_capabilities({"NET_ADMIN"}, {"all"}, last_cap) == capability_bit(12));
    // add ALL wins over drop ALL; the named drops still apply.
    CHECK(resolve_capabilities({"ALL"}, {"ALL"}, last_cap) == all_capabilities(last_cap));
    CHECK(resolve_capabilities({"ALL"}, {"SYS_ADMIN"}, last_cap) ==
          (all_capabilities(last_cap) & ~capability_bit(cap_sys_admin)));
    // A capability the kernel does not know is not handed out.
    CHECK(resolve_capabilities({"CHECKPOINT_RESTORE"}, {}, 39) == docker_mask);
    CHECK_THROWS_WITH(resolve_capabilities({}, {"NOPE"}, last_cap), "unknown capability 'NOPE'");
    CHECK_THROWS_WITH(resolve_capabilities({"CAP_FOO"}, {"ALL"}, last_cap), "unknown capability 'CAP_FOO'");
}

TEST_CASE("the kernel's last capability is read from /proc", "[privileges]") {
    const int last = last_capability();
    CHECK(last >= 37);  // CAP_AUDIT_READ exists since Linux 3.16
    CHECK(last <= 40);
}

namespace {

// Runs probe() in a child under the program and returns its exit code: each probe encodes
// the errno it saw.
template <typename Probe>
int under_filter(const SeccompProgram& program, Probe probe) {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ::_exit(100);
        if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, program.get()) != 0) ::_exit(101);
        ::_exit(probe());
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    return WEXITSTATUS(status);
}

// 0 when the call succeeded, else its errno.
int outcome(long rc) { return rc < 0 ? errno : 0; }

} // namespace

TEST_CASE("the default seccomp program denies what docker denies", "[privileges][seccomp]") {
    const SeccompProgram program(docker_mask);
    CHECK(program.instruction_count() > 50);
    CHECK(program.get()->len == program.instruction_count());

    // Every denied call here would be harmless if it reached the kernel, and fails there
    // with another errno than the filter's.
    CHECK(under_filter(program, [] { return outcome(::getpid()); }) == 0);
    CHECK(under_filter(program, [] { return outcome(::unshare(CLONE_NEWUTS)); }) == EPERM);
    CHECK(under_filter(program, [] { return outcome(::syscall(SYS_keyctl, 0, 0, 0, 0, 0)); }) == EPERM);
    CHECK(under_filter(program, [] { return outcome(::syscall(SYS_clone3, nullptr, 0)); }) == ENOSYS);
    CHECK(under_filter(program, [] { return outcome(::syscall(SYS_mount, "x", "/nonexistent-strata", "no-such-fs", 0, nullptr)); }) == EPERM);
    CHECK(under_filter(program, [] { return outcome(::syscall(SYS_reboot, 0, 0, 0, nullptr)); }) == EPERM);
    CHECK(under_filter(program, [] { return outcome(::syscall(SYS_socket, 40, SOCK_STREAM, 0)); }) == EPERM);
    // clone with a namespace flag fails; a plain fork still works.
    CHECK(under_filter(program, [] { return outcome(::syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0)); }) ==
          EPERM);
    CHECK(under_filter(program, [] {
              const pid_t child = ::fork();
              if (child == 0) ::_exit(0);
              int status;
              return child < 0 ? errno : outcome(::waitpid(child, &status, 0));
          }) == 0);
}

TEST_CASE("personality: only docker's safe values pass", "[privileges][seccomp]") {
    const SeccompProgram program(docker_mask);
    const auto set = [&](unsigned long value) {
        return under_filter(program, [value] { return outcome(::syscall(SYS_personality, value)); });
    };
    for (unsigned long allowed : {0x0UL, 0x8UL, 0x20000UL, 0x20008UL, 0xffffffffUL}) {
        INFO(allowed);
        CHECK(set(allowed) == 0);
    }
    for (unsigned long denied : {0x1UL, 0x7UL, 0x9UL, 0x10UL, 0x20001UL, 0x1ffffUL, 0x40000UL /* ADDR_NO_RANDOMIZE */,
                                 0x400000UL /* READ_IMPLIES_EXEC */, 0x20048UL, 0x80000000UL, 0xfffffffeUL,
                                 0x7fffffffUL, 0x100000000UL}) {
        INFO(denied);
        CHECK(set(denied) == EPERM);
    }
}

TEST_CASE("capabilities unlock the syscalls docker ties to them", "[privileges][seccomp]") {
    // With SYS_ADMIN, unshare reaches the kernel: as non-root it fails there with EPERM
    // too, so use a call whose kernel answer differs: clone3 with a bad size is EINVAL.
    const SeccompProgram admin(docker_mask | capability_bit(cap_sys_admin));
    CHECK(under_filter(admin, [] { return outcome(::syscall(SYS_clone3, nullptr, 0)); }) == EINVAL);
    const SeccompProgram plain(docker_mask);
    CHECK(under_filter(plain, [] { return outcome(::syscall(SYS_clone3, nullptr, 0)); }) == ENOSYS);
    // The kernel rejects clock -1 before checking privileges: EINVAL once the filter lets it through.
    const SeccompProgram time(docker_mask | capability_bit(25));
    const auto set_invalid_clock = [] {
        const timespec when{};
        return outcome(::syscall(SYS_clock_settime, -1, &when));
    };
    CHECK(under_filter(time, set_invalid_clock) == EINVAL);
    CHECK(under_filter(plain, set_invalid_clock) == EPERM);
}

#if defined(__x86_64__)
namespace {

// A 32-bit syscall from 64-bit code: a filter that forgot the x86 ABI would let it through.
long i386_syscall(long number, long arg) {
    long result;
    asm volatile("int $0x80" : "=a"(result) : "a"(number), "b"(arg) : "memory", "r8", "r9", "r10", "r11");
    return result;
}

constexpr long i386_getpid = 20;
constexpr long i386_unshare = 310;

} // namespace

TEST_CASE("32-bit x86 syscalls meet the same rules", "[privileges][seccomp]") {
    // Without IA-32 emulation, int $0x80 is a fault: probe in a child.
    const pid_t probe = ::fork();
    REQUIRE(probe >= 0);
    if (probe == 0) ::_exit(i386_syscall(i386_getpid, 0) > 0 ? 0 : 1);
    int status = 0;
    REQUIRE(::waitpid(probe, &status, 0) == probe);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        WARN("this kernel runs no 32-bit x86 code; nothing to check");
        return;
    }
    const SeccompProgram program(docker_mask);
    CHECK(under_filter(program, [] { return i386_syscall(i386_getpid, 0) > 0 ? 0 : 1; }) == 0);
    CHECK(under_filter(program, [] { return static_cast<int>(-i386_syscall(i386_unshare, CLONE_NEWUTS)); }) == EPERM);
}
#endif

} // namespace privileges_test
