// Part 2 of the bench: what the one-off import of undici, Medic's HTTP client, costs a check that
// sends anything. With `import`, it imports undici as src/notify/http.ts is loaded (a dynamic
// import from an ES module); without, it is an empty ES module. The difference is the import.
if (process.argv[2] === 'import') await import('undici');
