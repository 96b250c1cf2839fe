// A small stand-in for the CompareLogic API of the KellermanSoftware.CompareNetObjects library,
// which mxeval's C# tests use but which is not packaged for Debian. Written for this project:
// value-based deep equality of the values the tests compare (numbers, strings, booleans, chars,
// null, sequences, dictionaries, tuples and plain objects by public fields and properties).
// Numbers compare by value across numeric types; floating-point values compare exactly.
using System;
using System.Collections;
using System.Reflection;

namespace KellermanSoftware.CompareNetObjects
{
    public class ComparisonResult
    {
        public bool AreEqual { get; set; }
        public string DifferencesString { get { return AreEqual ? "" : "The objects differ."; } }
    }

    public class CompareLogic
    {
        public ComparisonResult Compare(object expected, object actual)
        {
            return new ComparisonResult { AreEqual = Same(expected, actual) };
        }

        static bool IsNumber(object o)
        {
            return o is sbyte || o is byte || o is short || o is ushort || o is int || o is uint
                || o is long || o is ulong || o is float || o is double || o is decimal;
        }

        static bool Same(object a, object b)
        {
            if (a == null || b == null) return a == null && b == null;
            if (IsNumber(a) && IsNumber(b))
            {
                if (a is float || a is double || b is float || b is double)
                    return Convert.ToDouble(a) == Convert.ToDouble(b);
                return Convert.ToDecimal(a) == Convert.ToDecimal(b);
            }
            if (a is string || a is char || a is bool || b is string || b is char || b is bool)
                return a.Equals(b);
            if (a is IDictionary && b is IDictionary)
            {
                var da = (IDictionary)a;
                var db = (IDictionary)b;
                if (da.Count != db.Count) return false;
                foreach (DictionaryEntry e in da)
                {
                    if (!db.Contains(e.Key) || !Same(e.Value, db[e.Key])) return false;
                }
                return true;
            }
            if (a is IEnumerable && b is IEnumerable)
            {
                var ea = ((IEnumerable)a).GetEnumerator();
                var eb = ((IEnumerable)b).GetEnumerator();
                while (true)
                {
                    bool ma = ea.MoveNext(), mb = eb.MoveNext();
                    if (ma != mb) return false;
                    if (!ma) return true;
                    if (!Same(ea.Current, eb.Current)) return false;
                }
            }
            if (a.GetType() != b.GetType()) return false;
            var flags = BindingFlags.Public | BindingFlags.Instance;
            foreach (var f in a.GetType().GetFields(flags))
            {
                if (!Same(f.GetValue(a), f.GetValue(b))) return false;
            }
            foreach (var p in a.GetType().GetProperties(flags))
            {
                if (p.GetIndexParameters().Length > 0) continue;
                if (!Same(p.GetValue(a, null), p.GetValue(b, null))) return false;
            }
            return a.GetType().GetFields(flags).Length + a.GetType().GetProperties(flags).Length > 0
                || a.Equals(b);
        }
    }
}
