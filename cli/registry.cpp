// strata pull, push, login, logout (registry/registry.hpp). Progress goes to stderr (bars
// on a terminal, a line per event otherwise); the pulled or pushed reference to stdout.
#include "cli/commands.hpp"
#include "cli/registry_flags.hpp"
#include "registry/registry.hpp"
#include "util/error.hpp"

#include <iostream>
#include <termios.h>
#include <unistd.h>

namespace strata::cli {

void add_registry_flags(CLI::App* command, RegistryFlags& flags) {
    command->add_flag("--tls-verify{true}", flags.tls_verify, "Verify the registry's TLS certificate (--tls-verify=false: do not)");
    command->add_option("--insecure-registry", flags.insecure,
                        "Allow plain http for this registry (host[:port] or CIDR; also $STRATA_INSECURE_REGISTRIES)");
}

registry::RegistryOptions registry_options(const RegistryFlags& flags) {
    registry::RegistryOptions options;
    options.hosts.tls_verify = flags.tls_verify;
    options.hosts.insecure.insert(options.hosts.insecure.end(), flags.insecure.begin(), flags.insecure.end());
    if (!flags.mirror.empty()) options.hosts.mirror = flags.mirror;
    return options;
}

namespace {

struct TransferFlags : RegistryFlags {
    bool quiet = false;
};

registry::ProgressMode progress_mode(bool quiet) {
    if (quiet) return registry::ProgressMode::quiet;
    return ::isatty(STDERR_FILENO) ? registry::ProgressMode::tty : registry::ProgressMode::plain;
}

struct PullFlags : TransferFlags {
    std::string reference;
    std::string platform;
};

void pull(const PullFlags& flags, const GlobalOptions& global) {
    registry::PullOptions options;
    options.registry = registry_options(flags);
    if (!flags.platform.empty()) options.platform = store::parse_platform(flags.platform);
    store::Store store(global.root);
    const store::GcLock writing = hold_store_for_use(store);
    registry::TransferProgress progress(std::cerr, progress_mode(flags.quiet));
    const auto result = registry::pull(store, flags.reference, options, progress);
    std::cout << result.name << "\n";
}

struct PushFlags : TransferFlags {
    std::string image;
    std::string destination;
    std::string chunk_size = "32m";
};

void push(const PushFlags& flags, const GlobalOptions& global) {
    registry::PushOptions options;
    options.registry = registry_options(flags);
    options.chunk_size = flags.chunk_size == "0" ? 0 : parse_size(flags.chunk_size);
    store::Store store(global.root);
    const store::GcLock reading = hold_store_for_use(store);  // no prune under the blobs being sent
    registry::TransferProgress progress(std::cerr, progress_mode(flags.quiet));
    const auto result = registry::push(store, flags.image, flags.destination, options, progress);
    std::cout << result.name << "@" << result.digest << "\n";
}

struct LoginFlags : TransferFlags {
    std::string registry;
    std::string username;
    std::string password;
    bool password_stdin = false;
};

// A line from the terminal, echoed or not (a password).
std::string prompt(const std::string& question, bool echo) {
    if (!::isatty(STDIN_FILENO)) throw Error("cannot ask for the " + question + " without a terminal: use -u and --password-stdin");
    std::cerr << question << ": " << std::flush;
    termios saved{};
    const bool hide = !echo && ::tcgetattr(STDIN_FILENO, &saved) == 0;
    if (hide) {
        termios quiet = saved;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
    }
    std::string line;
    std::getline(std::cin, line);
    if (hide) {
        ::tcsetattr(STDIN_FILENO, TCSANOW, &saved);
        std::cerr << "\n";
    }
    return line;
}

std::string password_from_stdin() {
    std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    return text;
}

void login(const LoginFlags& flags) {
    if (flags.password_stdin && !flags.password.empty()) throw Error("--password and --password-stdin are mutually exclusive");
    if (flags.password_stdin && flags.username.empty()) throw Error("--password-stdin needs a username (-u)");
    registry::Credentials credentials;
    credentials.username = flags.username.empty() ? prompt("Username", true) : flags.username;
    if (flags.password_stdin) credentials.password = password_from_stdin();
    else credentials.password = flags.password.empty() ? prompt("Password", false) : flags.password;
    if (credentials.username.empty() || credentials.password.empty()) throw Error("a username and a password are required");
    if (!flags.password.empty()) std::cerr << "WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n";
    registry::login(flags.registry, credentials, registry_options(flags));
    std::cout << "Login Succeeded\n";
}

void logout(const std::string& registry_argument) {
    const std::string domain = registry::registry_domain(registry_argument);
    if (registry::logout(domain, registry::RegistryOptions{}))
        std::cout << "Removing login credentials for " << domain << "\n";
    else
        std::cout << "Not logged in to " << domain << "\n";
}

} // namespace

void add_registry_commands(CLI::App& app, GlobalOptions& global) {
    auto pull_flags = std::make_shared<PullFlags>();
    CLI::App* pull_command = app.add_subcommand("pull", "Download an image from a registry");
    pull_command->add_option("reference", pull_flags->reference, "NAME[:TAG|@DIGEST]")->required();
    pull_command->add_option("--platform", pull_flags->platform, "os/arch[/variant] to pick from a multi-platform image");
    pull_command->add_option("--registry-mirror", pull_flags->mirror,
                             "Pull docker.io images through this mirror first (also $STRATA_REGISTRY_MIRROR)");
    pull_command->add_flag("-q,--quiet", pull_flags->quiet, "Print only the reference");
    add_registry_flags(pull_command, *pull_flags);
    pull_command->callback([pull_flags, &global] { pull(*pull_flags, global); });

    auto push_flags = std::make_shared<PushFlags>();
    CLI::App* push_command = app.add_subcommand("push", "Upload an image to a registry");
    push_command->add_option("image", push_flags->image, "A stored image")->required();
    push_command->add_option("destination", push_flags->destination, "REGISTRY/NAME[:TAG] (default: the image's name)");
    push_command->add_option("--chunk-size", push_flags->chunk_size, "Upload larger blobs in chunks of this size (0: one request)");
    push_command->add_flag("-q,--quiet", push_flags->quiet, "Print only the pushed reference");
    add_registry_flags(push_command, *push_flags);
    push_command->callback([push_flags, &global] { push(*push_flags, global); });

    auto login_flags = std::make_shared<LoginFlags>();
    CLI::App* login_command = app.add_subcommand("login", "Save credentials for a registry");
    login_command->add_option("registry", login_flags->registry, "host[:port] (default docker.io)");
    login_command->add_option("-u,--username", login_flags->username, "Username");
    login_command->add_option("-p,--password", login_flags->password, "Password");
    login_command->add_flag("--password-stdin", login_flags->password_stdin, "Read the password from standard input");
    add_registry_flags(login_command, *login_flags);
    login_command->callback([login_flags] { login(*login_flags); });

    auto logout_registry = std::make_shared<std::string>();
    CLI::App* logout_command = app.add_subcommand("logout", "Remove saved credentials for a registry");
    logout_command->add_option("registry", *logout_registry, "host[:port] (default docker.io)");
    logout_command->callback([logout_registry] { logout(*logout_registry); });
}

} // namespace strata::cli
