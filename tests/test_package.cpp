// scripts/build-deb.sh on the suite's own build directory: the package unpacks into a tree where
// GStreamer finds the element from the package's plugin directory alone, its commands run, and
// its Depends names the Debian package of every library the plugin links against.
#include <glib/gstdio.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "devserver_process.h"

namespace {

struct Command {
  int status = -1;
  std::string out;
  std::string err;
};

// Runs a program of the system. In the sanitizer build the ASan runtime stays out of those that
// never load our code (it would report their own exit-time leaks); `keep_preload` keeps it for a
// program that loads the plugin.
Command run(const std::vector<std::string> &argv, const std::vector<std::string> &env = {},
            bool keep_preload = false) {
  std::vector<std::string> args = argv;
  std::vector<gchar *> cargv;
  for (auto &a : args) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  gchar **envp = g_get_environ();
  if (!keep_preload) envp = g_environ_unsetenv(envp, "LD_PRELOAD");
  for (const std::string &entry : env) {
    size_t eq = entry.find('=');
    envp = g_environ_setenv(envp, entry.substr(0, eq).c_str(), entry.substr(eq + 1).c_str(), TRUE);
  }
  Command result;
  gchar *out = nullptr;
  gchar *err = nullptr;
  gint wait_status = 0;
  GError *error = nullptr;
  if (!g_spawn_sync(nullptr, cargv.data(), envp, G_SPAWN_SEARCH_PATH, nullptr, nullptr, &out, &err,
                    &wait_status, &error)) {
    ADD_FAILURE() << argv[0] << ": " << error->message;
    g_error_free(error);
  } else {
    result.status = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1;
    result.out = out ? out : "";
    result.err = err ? err : "";
  }
  g_free(out);
  g_free(err);
  g_strfreev(envp);
  return result;
}

std::string trimmed(std::string text) {
  while (!text.empty() && g_ascii_isspace(text.back())) text.pop_back();
  return text;
}

// The package names in a Depends field ("a (>= 1), b | c" gives a, b, c).
std::set<std::string> package_names(const std::string &depends) {
  std::set<std::string> names;
  std::string token;
  std::istringstream in(depends);
  while (std::getline(in, token, ',')) {
    std::istringstream alternatives(token);
    std::string alternative;
    while (std::getline(alternatives, alternative, '|')) {
      std::istringstream words(alternative);
      std::string name;
      words >> name;
      if (!name.empty()) names.insert(name);
    }
  }
  return names;
}

// The shared libraries a binary asks for (DT_NEEDED), resolved to paths by the dynamic linker.
std::vector<std::string> linked_libraries(const std::string &binary) {
  std::set<std::string> needed;
  Command dynamic = run({"readelf", "-d", binary});
  EXPECT_EQ(dynamic.status, 0) << dynamic.err;
  std::istringstream lines(dynamic.out);
  for (std::string line; std::getline(lines, line);) {
    size_t open = line.find("Shared library: [");
    if (open != std::string::npos) {
      open += strlen("Shared library: [");
      needed.insert(line.substr(open, line.find(']', open) - open));
    }
  }
  std::vector<std::string> paths;
  Command ldd = run({"ldd", binary});
  EXPECT_EQ(ldd.status, 0) << ldd.err;
  std::istringstream resolved(ldd.out);
  for (std::string line; std::getline(resolved, line);) {
    std::istringstream words(line);
    std::string name, arrow, path;
    words >> name >> arrow >> path;
    if (arrow == "=>" && needed.count(name)) paths.push_back(path);
  }
  EXPECT_EQ(paths.size(), needed.size()) << ldd.out;
  return paths;
}

// The Debian package that ships `path` (with and without the merged /usr prefix).
std::string owning_package(const std::string &path) {
  std::vector<std::string> candidates = {path};
  if (path.rfind("/usr/", 0) == 0)
    candidates.push_back(path.substr(4));
  else
    candidates.push_back("/usr" + path);
  g_autofree char *real = realpath(path.c_str(), nullptr);
  if (real) candidates.push_back(real);
  for (const std::string &candidate : candidates) {
    Command search = run({"dpkg", "-S", candidate});
    if (search.status != 0) continue;
    std::string package = search.out.substr(0, search.out.find(':'));
    return package;
  }
  return {};
}

TEST(DebianPackage, UnpackedTreeProvidesTheElementAndItsDependencies) {
  std::string source = g_getenv("SEE2AI_SOURCE_ROOT");
  std::string build = g_getenv("SEE2AI_BUILD_ROOT");
  std::string dir = see2ai::test::make_temp_dir("package");
  Command built =
      run({"bash", source + "/scripts/build-deb.sh", "--build-dir", build, "--out", dir});
  ASSERT_EQ(built.status, 0) << built.out << built.err;
  std::string deb = trimmed(built.out);
  ASSERT_TRUE(g_str_has_suffix(deb.c_str(), ".deb")) << deb;
  ASSERT_TRUE(g_file_test(deb.c_str(), G_FILE_TEST_IS_REGULAR));

  Command fields = run({"dpkg-deb", "-f", deb, "Package", "Depends"});
  ASSERT_EQ(fields.status, 0) << fields.err;
  EXPECT_NE(fields.out.find("Package: gstreamer1.0-see2ai"), std::string::npos) << fields.out;
  size_t at = fields.out.find("Depends: ");
  ASSERT_NE(at, std::string::npos) << fields.out;
  std::set<std::string> depends = package_names(trimmed(fields.out.substr(at + 9)));

  std::string root = dir + "/root";
  ASSERT_EQ(run({"dpkg-deb", "-x", deb, root}).status, 0);
  std::string plugindir =
      trimmed(run({"pkg-config", "--variable=pluginsdir", "gstreamer-1.0"}).out);
  std::string plugin = root + plugindir + "/libgstsee2ai.so";
  ASSERT_TRUE(g_file_test(plugin.c_str(), G_FILE_TEST_IS_REGULAR)) << plugin;
  for (const char *file : {"/usr/bin/see2ai-cache", "/usr/bin/see2ai-devserver"})
    EXPECT_TRUE(g_file_test((root + file).c_str(), G_FILE_TEST_IS_EXECUTABLE)) << file;
  for (const char *file : {"README.md", "copyright", "examples/README.md",
                           "examples/play-with-audio.sh", "examples/cpp-app/see2ai-app.cpp"})
    EXPECT_TRUE(g_file_test((root + "/usr/share/doc/gstreamer1.0-see2ai/" + file).c_str(),
                            G_FILE_TEST_IS_REGULAR))
        << file;

  // GStreamer looks only in the unpacked plugin directory, with a registry of its own.
  Command inspect = run({"gst-inspect-1.0", "see2aivideosrc"},
                        {"GST_PLUGIN_PATH=", "GST_PLUGIN_SYSTEM_PATH_1_0=" + root + plugindir,
                         "GST_REGISTRY_1_0=" + dir + "/registry.bin"},
                        true);
  EXPECT_EQ(inspect.status, 0) << inspect.out << inspect.err;
  EXPECT_NE(inspect.out.find(plugin), std::string::npos) << "loaded from the package's tree:\n"
                                                         << inspect.out;
  EXPECT_NE(inspect.out.find("cache-max-size"), std::string::npos);

  Command help = run({root + "/usr/bin/see2ai-cache", "--help"});
  EXPECT_EQ(help.status, 0) << help.err;
  EXPECT_NE(help.out.find("Exit status"), std::string::npos);

  std::vector<std::string> libraries = linked_libraries(plugin);
  EXPECT_GE(libraries.size(), 5u);
  for (const std::string &library : libraries) {
    std::string package = owning_package(library);
    EXPECT_FALSE(package.empty()) << "no Debian package ships " << library;
    EXPECT_TRUE(depends.count(package))
        << library << " comes from " << package << ", which Depends does not name";
  }
  EXPECT_TRUE(depends.count("libgstreamer1.0-0"));
}

}  // namespace
