# Builds the extension libqmp_ext (SWIG's wrapper of bindings/qmp.i, shipped
# in the gem) against the installed libqmp, found with pkg-config: set
# PKG_CONFIG_PATH when libqmp is installed under a prefix of its own.  The
# extension records libqmp's libdir as its run path, so it loads without
# LD_LIBRARY_PATH.
require "mkmf"

unless pkg_config("libqmp")
  abort <<~MSG
    libqmp not found by pkg-config (pkg-config --cflags --libs libqmp).
    Install libqmp first (meson install), and if its prefix is not a standard
    one, set PKG_CONFIG_PATH=PREFIX/lib/<arch>/pkgconfig (or PREFIX/lib/pkgconfig).
  MSG
end
have_header("qmp/qmp.h") or abort "libqmp's headers (qmp/qmp.h) are not usable with pkg-config's flags"
have_library("pthread")

libdir = pkg_config("libqmp", "variable=libdir").to_s.strip
unless libdir.empty? || %w[/usr/lib /lib /usr/lib64 /lib64].include?(libdir) ||
       libdir == RbConfig::CONFIG["libdir"]
  $LDFLAGS << " -Wl,-rpath,#{libdir}"
end
# SWIG's generated code, not ours: its style is not worth warnings.
$warnflags = "" if defined?($warnflags)
$CFLAGS << " -w"

create_makefile("libqmp_ext")
