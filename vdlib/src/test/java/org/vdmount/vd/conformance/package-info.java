/**
 * The conformance kit: one set of tests every registered format passes, driven by what the
 * format declares ({@link org.vdmount.vd.ImageFormat#capabilities()}) and by a small fixture.
 *
 * <h2>Adding a format</h2>
 * <ol>
 * <li>Its package under {@code org.vdmount.vd.format} and its line in
 *     {@link org.vdmount.vd.FormatRegistry}.</li>
 * <li>Its fixture: {@code XFixture implements FormatFixture} beside {@code XFormat}, in the test
 *     sources of the same package (found by that name; {@link Fixtures}). A registered format
 *     without one fails {@code ConformanceFixturesTest} and every kit test.</li>
 * </ol>
 * Nothing else changes: the tests below run over {@code FormatRegistry.all()}.
 *
 * <h2>The tests</h2>
 * <ul>
 * <li>{@code ConformanceCapabilityTest}: each declared capability works, each absent one is
 *     refused (or emulated by the Disk).</li>
 * <li>{@code ConformanceModelTest}: {@link ModelRun} on one layer and on a 3-layer chain of every
 *     variant, then the fixture's {@link Oracle} ({@link OracleRunner}) on what it left.</li>
 * <li>{@code ConformanceMutationTest}: {@link MutationCampaign} with the {@link Mutator} inside
 *     the fixture's {@link Region}s.</li>
 * <li>{@code ConformanceConcurrencyTest}: parallel writers into the same fresh blocks, and into
 *     blocks of their own.</li>
 * </ul>
 * {@code -Dvdmount.conformance.rounds=N} multiplies every campaign ({@link Kit#rounds()}).
 *
 * <p>The kit is published with vdlib's test-jar ({@code <type>test-jar</type>}), together with
 * its helpers for tests of other kinds ({@link ExternalTools}, {@link DiskBytes},
 * {@link ModelRun#scribble}).
 */
package org.vdmount.vd.conformance;
