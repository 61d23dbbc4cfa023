/**
 * Metadata tables shared by the formats: {@code TableCache}, the one bounded cache of second-level
 * tables (QCOW, QED and qcow2 L2 tables, VMDK grain tables), and {@code Tables}, acquire/release
 * access to table words and tables of fixed-size entries read from a file in a named byte order.
 */
package org.vdmount.vd.table;
