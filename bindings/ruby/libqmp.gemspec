# The gem of libqmp's Ruby binding: lib/libqmp.rb (with lib/libqmp/mock.rb) and the extension
# libqmp_ext, compiled at `gem install` by ext/libqmp_ext/extconf.rb against
# the installed libqmp (found with pkg-config).  The extension's C source is
# SWIG's output for bindings/qmp.i, made by the build, not kept in the
# repository: build the gem with `meson compile -C BUILD ruby-gem` (it runs
# make-gem.sh), which puts that file and a VERSION file next to this one in
# a staging directory and runs `gem build` there, so installing the gem
# needs a C compiler and pkg-config but not swig.
wrapper = File.join(__dir__, "ext", "libqmp_ext", "libqmp_ext_wrap.c")
version_file = File.join(__dir__, "VERSION")
unless File.file?(wrapper) && File.file?(version_file)
  abort "libqmp.gemspec: no #{File.basename(wrapper)}/VERSION here: build the gem with " \
        "`meson compile -C BUILD ruby-gem` (bindings/ruby/make-gem.sh)"
end

Gem::Specification.new do |s|
  s.name = "libqmp"
  s.version = File.read(version_file).strip
  s.summary = "A client for QEMU's QMP (QEMU Machine Protocol), on the libqmp C library"
  s.description = "Executes QMP commands, waits for events and passes file descriptors to " \
                  "QEMU, with timeouts, threads and schema validation; needs libqmp installed " \
                  "(pkg-config libqmp) to build its extension."
  s.authors = ["libqmp authors"]
  s.license = "LGPL-2.1-or-later"
  s.required_ruby_version = ">= 3.0"
  s.files = ["lib/libqmp.rb", "lib/libqmp/mock.rb", "ext/libqmp_ext/extconf.rb", "ext/libqmp_ext/libqmp_ext_wrap.c", "VERSION"]
  s.extensions = ["ext/libqmp_ext/extconf.rb"]
  s.require_paths = ["lib"]
  s.requirements = ["libqmp (pkg-config libqmp) and a C compiler"]
end
