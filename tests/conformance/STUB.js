// rdf-test-suite needs an engine module; for the Protocol and Service Description
// suites the engine is the live HTTP endpoint, so these functions must never be called.
module.exports = {
  parse: function () { throw new Error("not an in-process engine: the endpoint under test is HTTP"); },
  query: function () { throw new Error("not an in-process engine: the endpoint under test is HTTP"); },
};
