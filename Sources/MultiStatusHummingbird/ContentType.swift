/// `Content-Type` values.
public enum ContentType {
    /// The media type of a `Content-Type` value without its parameters, lowercased
    /// (`Multipart/Form-Data; boundary=x` → `multipart/form-data`); `nil` when there is none.
    public static func essence(_ value: String?) -> String? {
        guard let essence = value?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased(), !essence.isEmpty else {
            return nil
        }
        return essence
    }
}
