#include "builder/paths.hpp"

#include "util/error.hpp"
#include "util/fs.hpp"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace strata::builder {

namespace {

std::vector<std::string> split_components(std::string_view path) {
    std::vector<std::string> parts;
    std::size_t i = 0;
    while (i < path.size()) {
        std::size_t j = path.find('/', i);
        if (j == std::string_view::npos) j = path.size();
        if (j > i) parts.emplace_back(path.substr(i, j - i));
        i = j + 1;
    }
    return parts;
}

// Applies components to a stack, treating ".." at the root as the root itself.
void push_component(std::vector<std::string>& stack, const std::string& part) {
    if (part == ".") return;
    if (part == "..") {
        if (!stack.empty()) stack.pop_back();
        return;
    }
    stack.push_back(part);
}

fs::path join_stack(const std::vector<std::string>& stack) {
    fs::path out;
    for (const auto& part : stack) out /= part;
    return out;
}


} // namespace

fs::path clean_relative(std::string_view path) {
    std::vector<std::string> stack;
    for (const auto& part : split_components(path)) push_component(stack, part);
    return join_stack(stack);
}

fs::path resolve_relative(const fs::path& root, std::string_view rel, bool follow_last) {
    constexpr int max_links = 40;
    int links = 0;
    std::vector<std::string> done;  // resolved components, all real dirs (or the final entry)
    std::vector<std::string> todo = split_components(rel);
    std::reverse(todo.begin(), todo.end());
    while (!todo.empty()) {
        std::string part = std::move(todo.back());
        todo.pop_back();
        if (part == "." || part == "..") {
            push_component(done, part);
            continue;
        }
        done.push_back(part);
        const bool last = todo.empty();
        if (last && !follow_last) break;
        const fs::path here = root / join_stack(done);
        struct stat st {};
        if (::lstat(here.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) continue;  // missing or not a link
        if (++links > max_links) throw Error("too many levels of symbolic links resolving '" + std::string(rel) + "'");
        std::string target = read_link(here);
        done.pop_back();
        if (!target.empty() && target[0] == '/') done.clear();
        auto target_parts = split_components(target);
        for (auto it = target_parts.rbegin(); it != target_parts.rend(); ++it) todo.push_back(*it);
    }
    return join_stack(done);
}

fs::path resolve_in_root(const fs::path& root, std::string_view rel, bool follow_last) {
    return root / resolve_relative(root, rel, follow_last);
}

std::string join_container_path(std::string_view workdir, std::string_view path) {
    std::string combined;
    if (!path.empty() && path[0] == '/') {
        combined = std::string(path);
    } else {
        combined = std::string(workdir.empty() ? "/" : workdir) + "/" + std::string(path);
    }
    return "/" + clean_relative(combined).string();
}

} // namespace strata::builder
