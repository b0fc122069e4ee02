/*
 * Progress and errors on the firmware console (ConOut, which OVMF and most
 * server firmware mirror to the serial port). One line per call, prefixed
 * so a serial log shows which stage of the boot spoke.
 */
#include "loader.h"

static void print_line(const CHAR16 *kind, const CHAR16 *format, va_list args)
{
	Print(L"kapsel.efi: %s", kind);
	VPrint(format, args);
	Print(L"\n");
}

void loader_info(const CHAR16 *format, ...)
{
	va_list args;

	va_start(args, format);
	print_line(L"", format, args);
	va_end(args);
}

void loader_warn(const CHAR16 *format, ...)
{
	va_list args;

	va_start(args, format);
	print_line(L"warning: ", format, args);
	va_end(args);
}

void loader_error(const CHAR16 *format, ...)
{
	va_list args;

	va_start(args, format);
	print_line(L"error: ", format, args);
	va_end(args);
}
