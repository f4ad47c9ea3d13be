// docker's default seccomp profile, expressed as a deny list, compiled with libseccomp in
// the parent. docker's profile is an allow list with EPERM as the default; denying exactly
// what it leaves out (for the capabilities the container holds) has the same effect on
// every syscall docker knows, and does not break syscalls newer than this list.
#include "sandbox/privileges.hpp"

#include "util/error.hpp"
#include "util/fd.hpp"

#include <algorithm>
#include <cerrno>
#include <iterator>
#include <memory>
#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace strata::sandbox {
namespace {

struct ContextDeleter {
    void operator()(scmp_filter_ctx ctx) const { seccomp_release(ctx); }
};
using Context = std::unique_ptr<void, ContextDeleter>;

constexpr int none = -1;

// ptrace, process_vm_readv/writev and name_to_handle_at are not here: docker allows them
// on kernels since 4.8, which closed ptrace's way around seccomp.
//
// A syscall docker's profile leaves out unless the container holds one of two capabilities
// (none: never). From moby's profiles/seccomp/default.json.
struct Denied {
    const char* name;
    int unless_cap = none;
    int or_unless_cap = none;
};

constexpr int SYS_ADMIN = 21, SYS_BOOT = 22, SYS_MODULE = 16, SYS_PACCT = 20, SYS_PTRACE = 19, SYS_RAWIO = 17,
              SYS_TIME = 25, SYS_TTY_CONFIG = 26, SYS_NICE = 23, SYSLOG = 34, BPF = 39, PERFMON = 38,
              DAC_READ_SEARCH = 2, SYS_CHROOT = 18;

constexpr Denied denied_syscalls[] = {
    // Mounts, namespaces and host-wide state: CAP_SYS_ADMIN.
    {"mount", SYS_ADMIN}, {"umount", SYS_ADMIN}, {"umount2", SYS_ADMIN}, {"fsopen", SYS_ADMIN},
    {"fsconfig", SYS_ADMIN}, {"fsmount", SYS_ADMIN}, {"fspick", SYS_ADMIN}, {"move_mount", SYS_ADMIN},
    {"open_tree", SYS_ADMIN}, {"mount_setattr", SYS_ADMIN}, {"unshare", SYS_ADMIN}, {"setns", SYS_ADMIN},
    {"quotactl", SYS_ADMIN}, {"quotactl_fd", SYS_ADMIN}, {"lookup_dcookie", SYS_ADMIN},
    {"fanotify_init", SYS_ADMIN}, {"sethostname", SYS_ADMIN}, {"setdomainname", SYS_ADMIN},
    {"syslog", SYS_ADMIN, SYSLOG}, {"bpf", SYS_ADMIN, BPF}, {"perf_event_open", SYS_ADMIN, PERFMON},
    // One capability each.
    {"reboot", SYS_BOOT}, {"chroot", SYS_CHROOT}, {"init_module", SYS_MODULE}, {"finit_module", SYS_MODULE},
    {"delete_module", SYS_MODULE}, {"acct", SYS_PACCT}, {"kcmp", SYS_PTRACE}, {"pidfd_getfd", SYS_PTRACE},
    {"process_madvise", SYS_PTRACE}, {"iopl", SYS_RAWIO}, {"ioperm", SYS_RAWIO}, {"settimeofday", SYS_TIME},
    {"stime", SYS_TIME}, {"clock_settime", SYS_TIME}, {"clock_settime64", SYS_TIME},
    {"vhangup", SYS_TTY_CONFIG}, {"get_mempolicy", SYS_NICE}, {"set_mempolicy", SYS_NICE},
    {"mbind", SYS_NICE}, {"set_mempolicy_home_node", SYS_NICE}, {"open_by_handle_at", DAC_READ_SEARCH},
    // Never: the kernel keyring is not namespaced, the rest is host-wide or obsolete.
    {"add_key"}, {"keyctl"}, {"request_key"}, {"kexec_load"}, {"kexec_file_load"}, {"swapon"}, {"swapoff"},
    {"pivot_root"}, {"userfaultfd"}, {"move_pages"}, {"migrate_pages"}, {"sysfs"}, {"_sysctl"}, {"uselib"},
    {"ustat"}, {"vm86"}, {"vm86old"}, {"nfsservctl"}, {"create_module"}, {"get_kernel_syms"},
    {"query_module"}, {"afs_syscall"}, {"tuxcall"}, {"security"}, {"vserver"}, {"getpmsg"}, {"putpmsg"},
    // Stricter than the profile version read (which allows them): io_uring does its I/O
    // out of seccomp's sight.
    {"io_uring_setup"}, {"io_uring_enter"}, {"io_uring_register"},
};

constexpr std::uint64_t namespace_clone_flags[] = {CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,   CLONE_NEWUSER,
                                                   CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP};

// personality(2) values docker allows: PER_LINUX (0), PER_LINUX32 (bit 3), UNAME26
// (bit 17) with either, and 0xffffffff (a query). Everything else is denied, but libseccomp
// allows one comparison per argument and rule, so "not one of these" is spelled as rules
// that each require a set bit other than 3 and 17 and a clear bit (see deny_personalities).
constexpr int personality_flag_bits[] = {3, 17};

constexpr int af_vsock = 40;

bool holds(CapabilityMask capabilities, int cap) { return cap != none && (capabilities & capability_bit(cap)) != 0; }

void check(int rc, const char* what, const char* syscall_name) {
    if (rc < 0) throw_error_code(what, syscall_name, -rc);
}

bool is_personality_flag(int bit) {
    return std::find(std::begin(personality_flag_bits), std::end(personality_flag_bits), bit) != std::end(personality_flag_bits);
}

using Op = SeccompArg::Op;

// A value that is not allowed either has bits above 31, or has a set bit b other than 3 and
// 17 and, 0xffffffff aside, a clear bit. Walking up (cyclically) from b to the first clear
// bit c, the bit before c is set: it is b' != 3, 17 (rule "b' set, b'+1 clear"), or it is 3
// or 17, whose predecessor was walked over and so is set too (rule "2 and 3 set, 4 clear").
// No allowed value matches any of these rules: each needs a clear bit and a set bit
// besides 3 and 17.
void deny_personalities(std::vector<SeccompRule>& rules) {
    rules.push_back({"personality", EPERM, {{0, Op::gt, 0xffffffffULL, 0}}});
    const auto bit = [](int n) { return std::uint64_t{1} << (n % 32); };
    for (int b = 0; b < 32; ++b) {
        if (is_personality_flag(b)) {
            const auto set = bit(b - 1) | bit(b);
            rules.push_back({"personality", EPERM, {{0, Op::masked_eq, set | bit(b + 1), set}}});
        } else {
            rules.push_back({"personality", EPERM, {{0, Op::masked_eq, bit(b) | bit(b + 1), bit(b)}}});
        }
    }
}

scmp_arg_cmp comparison(const SeccompArg& arg) {
    switch (arg.op) {
    case Op::eq: return SCMP_CMP(arg.index, SCMP_CMP_EQ, arg.value);
    case Op::gt: return SCMP_CMP(arg.index, SCMP_CMP_GT, arg.value);
    case Op::masked_eq: return SCMP_CMP(arg.index, SCMP_CMP_MASKED_EQ, arg.value, arg.value_two);
    }
    return SCMP_CMP(arg.index, SCMP_CMP_EQ, arg.value);
}

// Adds the rule, if this libseccomp knows the syscall's name (for some architecture; it
// skips the ones lacking it).
void add_rule(scmp_filter_ctx ctx, const SeccompRule& rule) {
    const int number = seccomp_syscall_resolve_name(rule.syscall.c_str());
    if (number == __NR_SCMP_ERROR) return;
    std::vector<scmp_arg_cmp> comparisons;
    for (const auto& arg : rule.args) comparisons.push_back(comparison(arg));
    check(seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO(static_cast<std::uint32_t>(rule.error)), number,
                                 static_cast<unsigned>(comparisons.size()), comparisons.data()),
          "seccomp_rule_add", rule.syscall.c_str());
}

// 32-bit x86 programs run in docker containers: their syscall numbers need the same rules
// (an architecture left out of the filter is killed, which is safe but breaks them).
void add_compat_architectures(scmp_filter_ctx ctx) {
    if (seccomp_arch_native() != SCMP_ARCH_X86_64) return;
    for (const auto arch : {SCMP_ARCH_X86, SCMP_ARCH_X32}) {
        const int rc = seccomp_arch_add(ctx, arch);
        if (rc < 0 && rc != -EEXIST) throw_error_code("seccomp_arch_add", "x86", -rc);
    }
}

std::vector<sock_filter> export_bpf(scmp_filter_ctx ctx) {
    Fd memory(::memfd_create("strata-seccomp", MFD_CLOEXEC));
    if (!memory) throw_errno("memfd_create", "seccomp program");
    check(seccomp_export_bpf(ctx, memory.get()), "seccomp_export_bpf", "default profile");
    struct stat st;
    if (::fstat(memory.get(), &st) != 0) throw_errno("fstat", "seccomp program");
    std::vector<sock_filter> instructions(static_cast<std::size_t>(st.st_size) / sizeof(sock_filter));
    const auto bytes = instructions.size() * sizeof(sock_filter);
    if (bytes == 0 || ::pread(memory.get(), instructions.data(), bytes, 0) != static_cast<ssize_t>(bytes))
        throw Error("seccomp_export_bpf: short program (" + std::to_string(st.st_size) + " bytes)");
    return instructions;
}

} // namespace

std::vector<SeccompRule> seccomp_rules(CapabilityMask capabilities) {
    std::vector<SeccompRule> rules;
    for (const auto& entry : denied_syscalls) {
        if (!holds(capabilities, entry.unless_cap) && !holds(capabilities, entry.or_unless_cap))
            rules.push_back({entry.name, EPERM, {}});
    }
    if (!holds(capabilities, SYS_ADMIN)) {
        // One rule per flag: rules for one syscall are alternatives.
        for (const auto flag : namespace_clone_flags) rules.push_back({"clone", EPERM, {{0, Op::masked_eq, flag, flag}}});
        // clone3 passes its flags in memory, out of a filter's reach: ENOSYS makes libc use clone.
        rules.push_back({"clone3", ENOSYS, {}});
    }
    deny_personalities(rules);
    rules.push_back({"socket", EPERM, {{0, Op::eq, static_cast<std::uint64_t>(af_vsock), 0}}});
    return rules;
}

SeccompProgram::SeccompProgram(CapabilityMask capabilities) {
    Context ctx(seccomp_init(SCMP_ACT_ALLOW));
    if (!ctx) throw Error("seccomp_init: failed");
    add_compat_architectures(ctx.get());
    for (const auto& rule : seccomp_rules(capabilities)) add_rule(ctx.get(), rule);
    instructions_ = export_bpf(ctx.get());
    if (instructions_.size() > BPF_MAXINSNS)
        throw Error("seccomp: the default profile compiled to " + std::to_string(instructions_.size()) + " instructions");
    program_.len = static_cast<unsigned short>(instructions_.size());
    program_.filter = instructions_.data();
}

} // namespace strata::sandbox
