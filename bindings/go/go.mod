module libqmp.org/qmp

go 1.19
